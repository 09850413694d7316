"""The seed's load tests: concurrent enqueue and dequeue keep every task exactly once.

They assert correctness under concurrency, never timings (timings live in bench/).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

from kubetask import Task, TaskContext
from kubetask.client import AsyncClient, TaskSpec
from kubetask.etcd_process import EtcdProcess
from kubetask.model import TaskState
from kubetask.store import Get, Keyspace, Store
from kubetask.worker import ExecutorRegistry
from tests.harness import InProcessSystem

pytestmark = [pytest.mark.load, pytest.mark.etcd]

PRODUCERS = 8
PER_PRODUCER = 250


async def test_concurrent_enqueue(etcd: EtcdProcess, namespace: str, store: Store,
                                  keys: Keyspace) -> None:
    """8 producers, each on its own connection, submit 250 tasks at once (one by one and in
    batches): every task is stored once, indexed once, and dispatch order is by priority."""

    async def produce(n: int) -> list[Task]:
        async with AsyncClient(etcd.endpoint, namespace=namespace) as c:
            out: list[Task] = []
            for i in range(0, PER_PRODUCER // 2):
                out.append(await c.submit("noop", {"p": n, "i": i}, priority=i % 4))
            out += await c.submit_many([TaskSpec("noop", {"p": n, "i": i}, priority=i % 4)
                                        for i in range(PER_PRODUCER // 2, PER_PRODUCER)])
            return out

    batches = await asyncio.wait_for(asyncio.gather(*(produce(n) for n in range(PRODUCERS))), 120)
    ids = [t.id for batch in batches for t in batch]
    assert len(ids) == len(set(ids)) == PRODUCERS * PER_PRODUCER
    records = await store.range_all(Get(keys.tasks(), prefix=True, keys_only=True))
    pending = await store.range_all(Get(keys.pending_all("default"), prefix=True,
                                        keys_only=True))
    assert sorted(keys.task_id_of(kv.key) for kv in records.kvs) == sorted(ids)
    indexed = [keys.task_id_of(kv.key) for kv in pending.kvs]
    assert sorted(indexed) == sorted(ids)
    by_id = {t.id: t for batch in batches for t in batch}
    priorities = [by_id[i].priority for i in indexed]
    assert priorities == sorted(priorities, reverse=True)
    async with AsyncClient(etcd.endpoint, namespace=namespace) as c:
        assert (await c.stats("default"))[0].counts.pending == len(ids)


class Recorder:
    """Records every execution: (task id, attempt, worker)."""

    type = "record"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: list[tuple[str, int, str]] = []

    def run(self, task: Task, ctx: TaskContext) -> Any:
        with self.lock:
            self.runs.append((task.id, ctx.attempt, ctx.worker))
        return None

    @property
    def is_async(self) -> bool:
        return False


async def test_concurrent_dequeue(system: InProcessSystem, client: AsyncClient) -> None:
    """2,000 tasks, 4 workers of 10 slots and 2 schedulers competing: each task runs exactly
    once, on exactly one worker, and ends succeeded."""
    recorder = Recorder()
    tasks = await client.submit_many([TaskSpec("record", {"i": i}, priority=i % 4)
                                      for i in range(2000)])
    await system.scheduler(node_id="s-a")
    await system.scheduler(node_id="s-b")
    for i in range(4):
        registry = ExecutorRegistry()
        registry.register(recorder)  # type: ignore[arg-type]
        await system.worker(registry=registry, node_id=f"w{i}")
    done = await client.wait([t.id for t in tasks], timeout=120)
    assert Counter(t.state for t in done) == {TaskState.SUCCEEDED: 2000}
    executions = Counter(task_id for task_id, _, _ in recorder.runs)
    assert len(executions) == 2000 and set(executions.values()) == {1}
    assert all(t.attempts == 1 for t in done)
    workers = Counter(worker for _, _, worker in recorder.runs)
    assert set(workers) == {"w0", "w1", "w2", "w3"}
    assert sum(1 for s in system.schedulers if s.leading.is_set()) == 1
