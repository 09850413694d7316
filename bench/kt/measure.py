"""Bounded waits and exact readings on a kubetask queue: readiness, completion, records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.kt.cluster import QUEUE
from kubetask.client import AsyncClient
from kubetask.client.spec import TaskSpec
from kubetask.model import Task, TaskState
from kubetask.queue import Reader
from kubetask.store import Get, Keyspace, RangeResult, Store

Check = Callable[[], None]


class BenchClient(AsyncClient):
    """The SDK, plus raw etcd reads on a connection of its own: counts of single index
    prefixes, revisions, status and compaction, which the SDK does not offer and whose
    cost must not grow with the backlog."""

    def __init__(self, endpoint: str, *, namespace: str, timeout: float = 5.0) -> None:
        super().__init__(endpoint, namespace=namespace, timeout=timeout)
        # raw_*: names no SDK version uses, so `bench.compare` can run this harness on an
        # older kubetask too (one whose client had public `store`, `keys` and `reader`).
        self.raw_store = Store([endpoint], timeout=timeout)
        self.raw_keys = Keyspace(namespace=namespace)
        self.raw_reader = Reader(self.raw_store, self.raw_keys)

    async def start(self) -> None:
        # The SDK's own start: `start` now, `connect` in older versions.
        await (getattr(AsyncClient, "start", None) or AsyncClient.connect)(self)
        await self.raw_store.start()

    async def stop(self) -> None:
        try:
            await self.raw_store.stop()
        finally:
            await (getattr(AsyncClient, "stop", None) or AsyncClient.close)(self)

    connect = start
    close = stop


class BenchTimeout(RuntimeError):
    """A bounded wait on kubetask ran past its deadline."""


Figure = tuple[str, float, dict[str, Any]]  # (unit, value, details) of one workload in one run
Figures = dict[str, Figure]


async def wait_ready(client: AsyncClient, workers: int, deadline_s: float, check: Check) -> None:
    """Until the queue has a scheduler leader and `workers` registered workers."""
    deadline = time.monotonic() + deadline_s
    while True:
        stats = (await client.stats(QUEUE))[0]
        if stats.leader is not None and len(stats.workers) >= workers:
            return
        if time.monotonic() > deadline:
            raise BenchTimeout(f"kubetask not ready within {deadline_s:.0f}s: leader "
                               f"{stats.leader!r}, {len(stats.workers)}/{workers} workers")
        check()
        await asyncio.sleep(0.05)


async def done_counts(client: BenchClient) -> tuple[int, int]:
    """(succeeded, dead + failed attempts) in one read whose cost does not grow with the backlog."""
    k = client.raw_keys
    prefixes = (k.done_state(QUEUE, TaskState.SUCCEEDED.value),
                k.done_state(QUEUE, TaskState.DEAD.value), k.failures(QUEUE))
    result = await client.raw_store.txn([], [Get(p, prefix=True, count_only=True) for p in prefixes])
    counts = [r.count if isinstance(r, RangeResult) else 0 for r in result.responses]
    return counts[0], counts[1] + counts[2]


async def wait_succeeded(
    client: BenchClient, target: int, deadline_s: float, check: Check, poll_s: float = 0.05
) -> int:
    """Until the queue's succeeded count reaches target; fail fast on dead or failed tasks."""
    deadline = time.monotonic() + deadline_s
    while True:
        succeeded, bad = await done_counts(client)
        if bad:
            raise RuntimeError(f"kubetask: {bad} task attempts failed or tasks are dead")
        if succeeded >= target:
            return succeeded
        if time.monotonic() > deadline:
            c = await client.raw_reader.counts(QUEUE)
            raise BenchTimeout(f"only {succeeded}/{target} succeeded within {deadline_s:.0f}s "
                               f"(pending {c.pending}, running {c.running})")
        check()
        await asyncio.sleep(poll_s)


async def wait_drained(client: BenchClient, deadline_s: float, check: Check, poll_s: float) -> None:
    """Until no task is pending, active or delayed; each poll costs O(open tasks), not O(done)."""
    k = client.raw_keys
    prefixes = (k.pending_all(QUEUE), k.assignments_all(QUEUE), k.delayed_all(QUEUE),
                k.done_state(QUEUE, TaskState.DEAD.value), k.failures(QUEUE),
                k.legacy_active_all(QUEUE))  # bench.compare may run a build of the earlier layout
    deadline = time.monotonic() + deadline_s
    while True:
        result = await client.raw_store.txn([], [Get(p, prefix=True, count_only=True) for p in prefixes])
        counts = [r.count if isinstance(r, RangeResult) else 0 for r in result.responses]
        if counts[3] or counts[4]:
            raise RuntimeError(f"kubetask: {counts[3]} dead tasks, {counts[4]} failed attempts")
        if not any(counts[:3]) and not counts[5]:
            return
        if time.monotonic() > deadline:
            raise BenchTimeout(f"{counts[0]} pending, {counts[1]} active, {counts[2]} delayed "
                               f"after {deadline_s:.0f}s")
        check()
        await asyncio.sleep(poll_s)


async def succeeded_count(client: BenchClient) -> int:
    """Succeeded tasks of the benchmark queue so far."""
    return (await done_counts(client))[0]


async def records(client: BenchClient, ids: Sequence[str]) -> list[Task]:
    """The stored task records of ids (all of them must exist)."""
    tasks = await client.raw_reader.get_many(list(ids))
    if len(tasks) != len(ids):
        raise RuntimeError(f"kubetask: {len(ids) - len(tasks)} of {len(ids)} task records missing")
    return tasks


def check_once(tasks: Sequence[Task]) -> dict[str, float]:
    """All succeeded; count tasks that ran more than once (lost or re-run attempts)."""
    bad = [t for t in tasks if t.state is not TaskState.SUCCEEDED or t.finished_at is None]
    if bad:
        raise RuntimeError(f"kubetask: {len(bad)} tasks not succeeded, e.g. {bad[0].id} {bad[0].state}")
    reruns = sum(1 for t in tasks if t.attempts != 1 or t.lost)
    return {"reruns": reruns}


async def succeeded_ids(client: BenchClient) -> list[str]:
    """Ids in the queue's succeeded index (read at one revision)."""
    prefix = client.raw_keys.done_state(QUEUE, TaskState.SUCCEEDED.value)
    result = await client.raw_store.range_all(Get(prefix, prefix=True, keys_only=True))
    return [client.raw_keys.task_id_of(kv.key) for kv in result.kvs]


def window_rate(finish_times: Sequence[float], skip: int, count: int) -> float:
    """Completions per second between the (skip)th and (skip+count)th finish, in finish order."""
    ordered = sorted(finish_times)
    if len(ordered) < skip + count + 1:
        raise ValueError(f"need {skip + count + 1} finish times, have {len(ordered)}")
    span = ordered[skip + count] - ordered[skip]
    return count / span if span > 0 else float("inf")


def noop_specs(n: int, type_: str = "noop", payload: object = None) -> list[TaskSpec]:
    """n task specs for the benchmark queue."""
    return [TaskSpec(type_, payload, queue=QUEUE) for _ in range(n)]


async def submit_batches(client: AsyncClient, n: int, batch: int) -> float:
    """Submit n no-op tasks with submit_many in batches; return the seconds it took."""
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        await client.submit_many(noop_specs(min(batch, n - start)))
    return time.perf_counter() - t0
