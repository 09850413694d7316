"""Retention and compaction over many finished tasks, and the store's transaction guard,
on a real etcd."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from kubetask.errors import StoreError, TransactionTooLarge
from kubetask.model import TaskState
from kubetask.queue import codec
from kubetask.scheduler import SchedulerSettings
from kubetask.scheduler.janitor import Janitor
from kubetask.store import Compare, Get, Keyspace, Op, Put, Store
from kubetask.store.limits import batches
from tests.factories import make_task

pytestmark = pytest.mark.etcd

QUEUE = "default"
FINISHED = (TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED)


async def finished_tasks(store: Store, keys: Keyspace, count: int, *, age: float) -> None:
    """`count` finished tasks (of every finished state, some with an idempotency key and a
    failed attempt) that finished `age` seconds ago, written as the engine writes them."""
    ops: list[Op] = []
    for i in range(count):
        state = FINISHED[i % 3]
        task = make_task(state=state, finished_at=time.time() - age,
                         idempotency_key=f"k{i}" if i % 10 == 0 else None)
        ops += [Put(keys.task(task.id), codec.dump(task)),
                Put(keys.done(QUEUE, state.value, task.id), b"")]
        if task.idempotency_key:
            ops.append(Put(keys.idempotency(QUEUE, task.idempotency_key), task.id.encode()))
        if state is TaskState.DEAD:
            ops.append(Put(keys.failure(QUEUE, task.id, 1), b""))
    for batch in batches(ops, 100):
        await store.txn([], batch)


async def leader_fence(store: Store, keys: Keyspace) -> Compare:
    key = keys.election(QUEUE) + "test"
    revision = await store.put(key, b"test")
    return Compare.create_revision(key, revision)


async def compacted_at(store: Store, keys: Keyspace, revision: int) -> bool:
    try:
        await store.range(Get(keys.tasks(), prefix=True), revision=revision)
    except StoreError as exc:
        assert "compacted" in str(exc)
        return True
    return False


@pytest.fixture
async def fence(store: Store, keys: Keyspace) -> AsyncIterator[Compare]:
    yield await leader_fence(store, keys)


async def test_janitor_deletes_a_thousand_expired_tasks_and_compacts_in_the_same_pass(
        store: Store, keys: Keyspace, fence: Compare) -> None:
    settings = SchedulerSettings(queue=QUEUE, retention_seconds=1.0,
                                 compact_history_seconds=0.2)
    janitor = Janitor(store, keys, settings)
    before = await store.revision()
    await janitor.sweep(fence)  # samples the revision the next pass compacts to
    await finished_tasks(store, keys, 1000, age=2.0)
    await asyncio.sleep(0.3)
    await janitor.sweep(fence)
    assert (janitor.deleted, janitor.compacted >= before) == (1000, True)
    assert await store.count(keys.tasks()) == 0
    for index in [keys.done_state(QUEUE, s.value) for s in FINISHED] + [
            keys.idempotency(QUEUE, ""), keys.failures(QUEUE)]:
        assert await store.count(index) == 0, index
    assert await compacted_at(store, keys, janitor.compacted - 1)


async def test_janitor_keeps_tasks_finished_within_retention(
        store: Store, keys: Keyspace, fence: Compare) -> None:
    await finished_tasks(store, keys, 300, age=10.0)
    await finished_tasks(store, keys, 300, age=0.0)
    janitor = Janitor(store, keys, SchedulerSettings(queue=QUEUE, retention_seconds=5.0,
                                                     compact_history_seconds=0))
    await janitor.sweep(fence)
    assert janitor.deleted == 300
    assert await store.count(keys.tasks()) == 300


async def test_a_failing_expiry_does_not_stop_compaction_and_warns_once(
        store: Store, keys: Keyspace, fence: Compare, caplog: pytest.LogCaptureFixture) -> None:
    janitor = Janitor(store, keys, SchedulerSettings(queue=QUEUE, retention_seconds=1.0,
                                                     compact_history_seconds=0.1))

    async def refused(cutoff: float, page: int = 0) -> AsyncIterator[list[object]]:
        raise TransactionTooLarge("refused on purpose")
        yield []  # pragma: no cover - makes this an async generator

    janitor.retention.expired = refused  # type: ignore[assignment,method-assign]
    with caplog.at_level(logging.INFO, logger="kubetask.scheduler.janitor"):
        for _ in range(4):
            before = await store.revision()
            await janitor.sweep(fence)
            await asyncio.sleep(0.15)
    assert janitor.compacted >= before - 1 > 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "refused on purpose" in warnings[0].getMessage()


async def test_an_oversized_write_transaction_is_refused_before_it_is_sent(
        store: Store, keys: Keyspace) -> None:
    puts = [Put(keys.task(f"t{i:03d}"), b"x") for i in range(129)]
    with pytest.raises(TransactionTooLarge, match=r"129 success .*limit of 128"):
        await store.txn([Compare.absent(p.key) for p in puts[:1]], puts)
    with pytest.raises(TransactionTooLarge, match=r"129 compares"):
        await store.txn([Compare.absent(p.key) for p in puts], puts[:1])
    assert await store.count(keys.tasks()) == 0


async def test_an_oversized_transaction_never_reaches_etcd() -> None:
    unreachable = Store(["127.0.0.1:9"], timeout=0.5)  # nothing listens: any RPC would fail
    async with unreachable:
        with pytest.raises(TransactionTooLarge):
            await unreachable.txn([], [Get(f"k{i}") for i in range(129)])


async def test_read_many_reads_more_than_one_transaction_holds_in_order(
        store: Store, keys: Keyspace) -> None:
    ids = [f"t{i:04d}" for i in range(300)]
    for batch in batches(ids, 100):
        await store.txn([], [Put(keys.task(i), i.encode()) for i in batch])
    results = await store.read_many([Get(keys.task(i)) for i in reversed(ids)] +
                                    [Get(keys.task("missing"))])
    assert [r.kvs[0].value.decode() for r in results[:-1]] == list(reversed(ids))
    assert results[-1].kvs == []
