"""Shared fixtures: a real etcd per test session, a fresh namespace per test, helpers to run
schedulers and workers in-process or as real `kubetask` processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubetask.client import AsyncClient
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.store import Keyspace, Store
from tests.harness import InProcessSystem

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """One real etcd for the whole session on free 127.0.0.1 ports."""
    base = tmp_path_factory.mktemp("etcd")
    process = EtcdProcess(base / "data", free_port(), free_port(), name="test-etcd")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def namespace() -> str:
    """A fresh namespace: tests sharing the session etcd never see each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def keys(namespace: str) -> Keyspace:
    return Keyspace(namespace=namespace)


@pytest.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    s = Store([etcd.endpoint])
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(etcd: EtcdProcess, namespace: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(etcd.endpoint, namespace=namespace) as c:
        yield c


@pytest.fixture
async def system(etcd: EtcdProcess, keys: Keyspace) -> AsyncIterator[InProcessSystem]:
    """Schedulers and workers in this process (each with its own etcd connection)."""
    s = InProcessSystem([etcd.endpoint], keys)
    yield s
    await asyncio.wait_for(s.stop(), 60)


@pytest.fixture
def cli_env(etcd: EtcdProcess, namespace: str) -> dict[str, str]:
    """Environment for `kubetask` subprocesses pointed at the test etcd and namespace."""
    env = dict(os.environ)
    env["KUBETASK_ETCD_ENDPOINTS"] = etcd.endpoint
    env["KUBETASK_NAMESPACE"] = namespace
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_cli(args: list[str], env: dict[str, str], *, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubetask", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, cwd=cwd)
