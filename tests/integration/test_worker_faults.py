"""A bug inside a worker is logged with its traceback and, repeated, stops the worker (the
`kubetask worker` process then exits 1): it never loops on as a one-line warning."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubetask.cli.runner import serve
from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import KubetaskError
from kubetask.model import Task, TaskState
from kubetask.store import Keyspace, Store
from kubetask.worker import Worker, WorkerMetrics, WorkerSettings
from tests.harness import InProcessSystem, QuietLoad

pytestmark = pytest.mark.etcd


class LoadSamplerBug(QuietLoad):
    """Every other sample raises: a session registers (one sample), then its heartbeat's
    sample fails inside the session's task group, as a bug of the worker's own would."""

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0

    def sample(self) -> tuple[float, float]:
        self.samples += 1
        if self.samples % 2 == 0:
            raise RuntimeError("load sampler bug")
        return super().sample()


class MetricsHookBug(WorkerMetrics):
    def started(self, task: Task, wait_seconds: float) -> None:
        raise RuntimeError("metrics hook bug")


def tracebacks_of(caplog: pytest.LogCaptureFixture, message: str) -> list[str]:
    formatter = logging.Formatter()
    texts = [formatter.formatException(r.exc_info) for r in caplog.records if r.exc_info]
    return [t for t in texts if message in t]


async def test_a_bug_in_the_session_is_logged_with_its_traceback_and_stops_the_worker(
        store: Store, keys: Keyspace, caplog: pytest.LogCaptureFixture) -> None:
    load = LoadSamplerBug()
    worker = Worker(store, keys, WorkerSettings(node_id="buggy", heartbeat_interval=0.05),
                    load=load)
    # Run as `kubetask worker` runs it (cli.processes.run_component): the error reaches
    # the CLI's main, which prints "kubetask: error: ..." and exits 1.
    with caplog.at_level(logging.INFO, logger="kubetask"), pytest.raises(
            KubetaskError, match=r"worker buggy failed 3 times within 60s \(last: "
            "RuntimeError: load sampler bug"):
        await asyncio.wait_for(serve(worker), 30)
    tracebacks = tracebacks_of(caplog, "RuntimeError: load sampler bug")
    assert len(tracebacks) == 3, caplog.text
    assert all("Traceback (most recent call last)" in t and "in sample" in t
               for t in tracebacks)
    assert load.samples == 6  # three sessions: no fourth
    assert await store.get(keys.worker("default", "buggy")) is None  # its lease revoked


async def test_a_bug_in_an_attempt_is_logged_with_its_traceback_and_stops_the_worker(
        store: Store, keys: Keyspace, system: InProcessSystem, client: AsyncClient,
        caplog: pytest.LogCaptureFixture) -> None:
    await system.scheduler()
    worker = Worker(store, keys, WorkerSettings(node_id="hooked"), metrics=MetricsHookBug(),
                    load=QuietLoad())
    tasks = await client.submit_many([TaskSpec("echo", {"i": i}) for i in range(3)])
    with caplog.at_level(logging.INFO, logger="kubetask"):
        await worker.start()
        try:
            with pytest.raises(KubetaskError, match=r"worker hooked failed 3 times within "
                               r"60s \(last in the attempt of task "):
                await asyncio.wait_for(worker.wait(), 30)
        finally:
            await worker.stop()
    tracebacks = tracebacks_of(caplog, "RuntimeError: metrics hook bug")
    assert len(tracebacks) == 3, caplog.text
    assert all("in started" in t for t in tracebacks)
    # The worker's lease went with it: its claims are recovered, not stuck on a live worker.
    async with asyncio.timeout(20):
        for task in tasks:
            while (await client.get(task.id)).state is not TaskState.PENDING:
                await asyncio.sleep(0.1)
