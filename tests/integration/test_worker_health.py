"""`kubetask worker --health-port`: /livez answers while the process's loop does; /readyz
is 200 only while the worker is registered under a live lease with its assignment watch
open and not draining (real worker processes, real etcd)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.model import TaskState
from tests.harness import InProcessSystem, Proc

pytestmark = pytest.mark.etcd


async def probe(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:port/path; (0, why) when nothing answers."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session, \
                session.get(f"http://127.0.0.1:{port}{path}") as answer:
            return answer.status, await answer.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


async def until(what: str, port: int, path: str, status: int, proc: Proc,
                timeout: float = 30) -> str:
    """Poll (bounded: `timeout` s, every 0.2 s) until the answer has `status`; its body."""
    last: tuple[int, str] = (0, "")
    for _ in range(int(timeout / 0.2)):
        assert proc.popen.poll() is None, f"the worker exited: {proc.output()[-3000:]}"
        last = await probe(port, path)
        if last[0] == status:
            return last[1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: no {status} from {path} in {timeout:.0f}s; last {last}; "
                         f"log: {proc.output()[-3000:]}")


def worker(env: dict[str, str], endpoint: str, port: int, log: Path, *extra: str) -> Proc:
    return Proc(["worker", "--etcd-endpoints", endpoint, "--node-id", "probed",
                 "--health-port", str(port), "--health-host", "127.0.0.1", *extra], env, log)


async def test_ready_once_registered_and_not_ready_while_draining(
        cli_env: dict[str, str], etcd: EtcdProcess, system: InProcessSystem,
        client: AsyncClient, tmp_path: Path) -> None:
    port = free_port()
    proc = worker(cli_env, etcd.endpoint, port, tmp_path / "worker.log",
                  "--shutdown-timeout", "60")
    try:
        assert await until("registered", port, "/readyz", 200, proc) == "ready\n"
        await system.scheduler()
        (task,) = await client.submit_many([TaskSpec("echo", {"duration": 60})])
        for _ in range(150):  # bounded: 30 s
            if (await client.get(task.id)).state is TaskState.RUNNING:
                break
            await asyncio.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)  # drains: the running task may finish
        assert "draining" in await until("draining", port, "/readyz", 503, proc)
        assert await probe(port, "/livez") == (200, "ok\n")
    finally:
        proc.stop(timeout=30)


async def test_not_ready_while_etcd_is_down_and_ready_again_after(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    own = EtcdProcess(tmp_path / "etcd", free_port(), free_port(), name="health-etcd")
    own.start()
    port = free_port()
    proc = worker(cli_env, own.endpoint, port, tmp_path / "worker.log", "--lease-ttl", "2")
    try:
        await until("registered", port, "/readyz", 200, proc)
        own.stop()
        assert "etcd unreachable" in await until("etcd down", port, "/readyz", 503, proc)
        assert await probe(port, "/livez") == (200, "ok\n")  # the process itself is fine
        own.start()
        await until("registered again", port, "/readyz", 200, proc, timeout=60)
    finally:
        proc.stop(timeout=30)
        own.stop()
