"""Fixtures of the fault tests: a private etcd (or 3-member cluster) per test, so a test may
pause, kill or compact it, and a FaultSystem of real `kubetask` processes on it."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubetask.etcd_process import EtcdProcess, free_port, start_cluster
from tests.faults.system import FaultSystem


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def etcd_member(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A single etcd member of this test only."""
    member = EtcdProcess(tmp_path / "etcd" / "data", free_port(), free_port(), name="etcd0")
    member.start()
    yield member
    member.signal(signal.SIGCONT)  # a paused member must be able to stop
    member.stop()


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[list[EtcdProcess]]:
    """A 3-member etcd cluster of this test only."""
    members = start_cluster(tmp_path / "etcd", 3)
    yield members
    for member in members:
        with contextlib.suppress(Exception):
            member.signal(signal.SIGCONT)
            member.stop()


@pytest.fixture
async def faults(tmp_path: Path, request: pytest.FixtureRequest,
                 namespace: str) -> AsyncIterator[FaultSystem]:
    """Processes against the test's etcd: the cluster if the test asked for one."""
    if "etcd_cluster" in request.fixturenames:
        endpoints = [m.endpoint for m in request.getfixturevalue("etcd_cluster")]
    else:
        endpoints = [request.getfixturevalue("etcd_member").endpoint]
    system = FaultSystem(tmp_path, endpoints, namespace)
    await system.open()
    try:
        yield system
    finally:
        await system.close()
