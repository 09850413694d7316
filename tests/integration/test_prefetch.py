"""Bounded prefetch on a real etcd: a worker holds up to --prefetch assigned tasks beyond
its free slots; it never runs more than --max-concurrent, the held ones are `assigned` to it
everywhere, a cancel of one is immediate, one waiting past the hold goes to a free worker,
and an urgent one starts before the low ones held before it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import kubetask
from kubetask import Task, TaskContext
from kubetask.cli.stats import render
from kubetask.client import AsyncClient, TaskSpec
from kubetask.model import TaskState
from kubetask.worker import WorkerSettings
from tests.conftest import run_cli
from tests.harness import InProcessSystem
from tests.integration.executors import ConcurrencyProbe
from tests.integration.test_engine import counts_of, registry_with, wait_state

pytestmark = pytest.mark.etcd

class AsyncPeak(kubetask.Executor):
    """An async executor (no thread pool to bound it) recording the most runs at once."""

    type = "async-peak"

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    async def run(self, task: Task, ctx: TaskContext) -> Any:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await asyncio.sleep(task.payload["duration"])
        finally:
            self.current -= 1


HOLD_LONG = 30.0  # a hold no test step reaches: prefetched tasks stay where they are


async def states(client: AsyncClient, ids: list[str]) -> list[tuple[TaskState, str | None]]:
    return [(t.state, t.worker) for t in [await client.get(i) for i in ids]]


async def until(check: object, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def earn_prefetch(client: AsyncClient, worker: str) -> None:
    """Run a short task: a worker prefetches only once its recent run times are short."""
    quick = await client.submit("echo", {"duration": 0})
    await client.wait([quick.id], timeout=15)

    async def advertised() -> bool:
        (stats,) = await client.stats("default")
        return any(w.info.id == worker and w.info.prefetch > 0 for w in stats.workers)
    await until(advertised)


async def busy_worker_with_prefetched(system: InProcessSystem, client: AsyncClient, *,
                                      prefetched: int, **settings: object
                                      ) -> tuple[str, list[str]]:
    """Worker `busy` (one slot) runs a long task; `prefetched` tasks are assigned to it,
    waiting for the slot. Returns (the long task's id, the prefetched ids)."""
    await system.scheduler()
    await system.worker(WorkerSettings(node_id="busy", max_concurrent=1, **settings))  # type: ignore[arg-type]
    await earn_prefetch(client, "busy")
    long = await client.submit("echo", {"duration": 30})
    await wait_state(client, long.id, TaskState.RUNNING)
    held = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(prefetched)])
    ids = [t.id for t in held]

    async def all_assigned() -> bool:
        return await states(client, ids) == [(TaskState.ASSIGNED, "busy")] * prefetched
    await until(all_assigned)
    return long.id, ids


async def test_a_worker_never_runs_more_than_max_concurrent_with_prefetch(
        system: InProcessSystem, client: AsyncClient) -> None:
    peak = AsyncPeak()
    await system.scheduler()
    await system.worker(registry=registry_with(peak), max_concurrent=2, prefetch=4,
                        prefetch_hold=HOLD_LONG)
    tasks = await client.submit_many([TaskSpec("async-peak", {"duration": 0.02})
                                      for _ in range(40)])
    done = await client.wait([t.id for t in tasks], timeout=60)
    assert [t.state for t in done] == [TaskState.SUCCEEDED] * 40
    assert peak.peak == 2


async def test_prefetched_tasks_are_assigned_to_their_worker_everywhere(
        system: InProcessSystem, client: AsyncClient) -> None:
    long, held = await busy_worker_with_prefetched(system, client, prefetched=2, prefetch=2,
                                                   prefetch_hold=HOLD_LONG)
    counts = await counts_of(client)
    (stats,) = await client.stats("default")
    assert (counts.running, counts.pending) == (3, 0)  # assigned counts as running
    assert [(w.info.id, w.running, w.info.prefetch) for w in stats.workers] == [("busy", 3, 2)]
    # Shown as 1 of 1 slot busy and 2 prefetched (of the 2 it takes), not "3/1"; the queue's
    # RUNNING (3) is their sum.
    (data,) = [q.to_dict() for q in await client.stats("default")]
    (worker,) = data["worker_stats"]
    assert (worker["busy_slots"], worker["prefetched"], worker["prefetch"]) == (1, 2, 2)
    (row,) = [line.split() for line in render([data]).splitlines()
              if line.startswith("default") and "busy" in line]
    assert row[3:5] == ["1/1", "2/2"], row
    # The scheduler counts them as held too: capacity 1 + prefetch 2 is full, so a fourth
    # task is not assigned while the others wait.
    extra = await client.submit("echo", {"duration": 0})
    await asyncio.sleep(0.5)
    assert (await client.get(extra.id)).state is TaskState.PENDING
    await client.cancel(long)
    done = await client.wait([*held, extra.id], timeout=30)
    assert [t.state for t in done] == [TaskState.SUCCEEDED] * 3


async def test_a_cancel_of_a_prefetched_task_ends_it_at_once(
        system: InProcessSystem, client: AsyncClient) -> None:
    long, held = await busy_worker_with_prefetched(system, client, prefetched=2, prefetch=2,
                                                   prefetch_hold=HOLD_LONG)
    await client.cancel(held[0])
    (cancelled,) = await client.wait([held[0]], timeout=10)  # the long task runs 30 s
    assert (cancelled.state, cancelled.worker) == (TaskState.CANCELLED, "busy")
    assert (await client.get(long)).state is TaskState.RUNNING
    assert await states(client, held[1:]) == [(TaskState.ASSIGNED, "busy")]


async def test_a_prefetched_task_waiting_past_the_hold_runs_on_a_free_worker(
        system: InProcessSystem, client: AsyncClient) -> None:
    long, held = await busy_worker_with_prefetched(system, client, prefetched=3, prefetch=3,
                                                   prefetch_hold=1.0)
    await system.worker(WorkerSettings(node_id="free", max_concurrent=4))
    # The bound: the hold (1 s) + one hand-back commit + one dispatch round; the margin
    # is for a loaded machine. The long task on `busy` runs 30 s.
    done = await client.wait(held, timeout=10)
    assert [(t.state, t.worker) for t in done] == [(TaskState.SUCCEEDED, "free")] * 3
    for task in done:
        assert [(a.worker, a.outcome) for a in task.history] == [
            ("busy", "handed-back"), ("free", "succeeded")]
        assert task.attempts == 1  # the hand-back used no attempt
    assert (await client.get(long)).state is TaskState.RUNNING
    (stats,) = await client.stats("default")
    # `busy` paused its prefetch after the hand-backs; `free` advertises its default depth
    # (four times its slots: its 4 slots run 16 echo tasks of 0 s well within half the hold)
    assert {w.info.id: w.info.prefetch for w in stats.workers} == {"busy": 0, "free": 16}


async def test_an_urgent_task_behind_prefetched_low_ones_starts_next(
        system: InProcessSystem, client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    await system.scheduler()
    await system.worker(registry=registry_with(probe), max_concurrent=1, prefetch=4,
                        prefetch_hold=HOLD_LONG)
    await earn_prefetch(client, "w0")
    first = await client.submit("probe", {"duration": 1.0, "mark": "first"})
    await wait_state(client, first.id, TaskState.RUNNING)
    low = await client.submit_many([TaskSpec("probe", {"mark": f"low-{i}"}, priority=0)
                                    for i in range(3)])

    async def low_assigned() -> bool:
        return all(s is TaskState.ASSIGNED for s, _ in await states(client, [t.id for t in low]))
    await until(low_assigned)
    urgent = await client.submit("probe", {"mark": "urgent"}, priority="urgent")
    await wait_state(client, urgent.id, TaskState.ASSIGNED)
    assert (await client.get(first.id)).state is TaskState.RUNNING  # all four wait for it
    started = time.monotonic()
    await client.wait([first.id, urgent.id, *[t.id for t in low]], timeout=30)
    assert probe.order == ["first", "urgent", "low-0", "low-1", "low-2"]
    assert time.monotonic() - started < 30


def test_a_bad_prefetch_flag_is_refused_with_the_rule(cli_env: dict[str, str]) -> None:
    refused = run_cli(["worker", "--prefetch", "1001"], cli_env, timeout=30)
    assert refused.returncode == 2
    assert "prefetch must be a whole number from 0 to 1000, got 1001" in refused.stderr
    env = {**cli_env, "KUBETASK_PREFETCH_HOLD": "0"}
    refused = run_cli(["worker"], env, timeout=30)
    assert refused.returncode == 2
    assert "prefetch hold must be greater than 0 and at most 60 seconds, got 0" in refused.stderr
