"""Drain requests on a real etcd (the autoscaler's scale-in): a worker asked to drain gets no
new task, finishes what runs, stays alive; the undo lets it take tasks again."""

from __future__ import annotations

import asyncio

import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import WorkerNotFound
from kubetask.model import TaskState, WorkerState
from kubetask.worker import WorkerSettings
from tests.harness import InProcessSystem
from tests.integration.test_engine import wait_state

pytestmark = pytest.mark.etcd


async def worker_states(client: AsyncClient) -> dict[str, WorkerState]:
    return {w.id: w.state for w in await client.workers("default")}


async def until(what: str, check: object, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_a_drained_worker_finishes_its_tasks_takes_no_new_ones_then_takes_again(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    old = await system.worker(WorkerSettings(node_id="old", max_concurrent=4))
    long = await client.submit_many([TaskSpec("echo", {"duration": 1.5}) for _ in range(2)])
    for task in long:
        await wait_state(client, task.id, TaskState.RUNNING)

    assert await client.drain_worker("default", "old") is True
    assert await client.drain_worker("default", "old") is False  # stood already
    assert await client.draining_workers("default") == ["old"]
    await system.worker(WorkerSettings(node_id="new", max_concurrent=4))
    short = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(8)])
    done = await client.wait([t.id for t in short], timeout=30)
    assert {t.worker for t in done} == {"new"}  # old had 2 free slots, got none
    assert (await worker_states(client))["old"] is WorkerState.DRAINING
    finished = await client.wait([t.id for t in long], timeout=30)
    assert [(t.state, t.worker, t.attempts) for t in finished] == [
        (TaskState.SUCCEEDED, "old", 1)] * 2  # not interrupted, run once
    assert old.registered.is_set()  # still there, registered

    assert await client.undrain_worker("default", "old") is True
    assert await client.undrain_worker("default", "old") is False
    await until("old active again", lambda: _is_active(client, "old"))
    assert await client.drain_worker("default", "new")
    later = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(4)])
    assert {t.worker for t in await client.wait([t.id for t in later], timeout=30)} == {"old"}


async def _is_active(client: AsyncClient, worker: str) -> bool:
    return (await worker_states(client)).get(worker) is WorkerState.ACTIVE


async def test_a_drain_request_goes_with_its_worker(system: InProcessSystem,
                                                    client: AsyncClient) -> None:
    await system.scheduler()
    worker = await system.worker(WorkerSettings(node_id="leaving", shutdown_timeout=1))
    await client.drain_worker("default", "leaving")
    await worker.stop(graceful=True)  # revokes its lease: the request goes too
    assert await client.draining_workers("default") == []
    assert await client.workers("default") == []


async def test_draining_an_unknown_worker_is_refused_and_writes_nothing(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.worker(WorkerSettings(node_id="here"))
    with pytest.raises(WorkerNotFound, match="no worker 'gone' is registered on queue"):
        await client.drain_worker("default", "gone")
    assert await client.draining_workers("default") == []
    with pytest.raises(ValueError, match="contains '/'"):
        await client.drain_worker("default", "a/b")
