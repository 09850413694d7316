"""The key layout on a real etcd: what a task costs in key operations, the fence on the
worker key's lease, and tasks assigned in the earlier layout after an upgrade."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.model import TaskState
from kubetask.queue import AttemptLog, Claim, Write, codec
from kubetask.store import Compare, Delete, Keyspace, Put, Store
from tests.faults.audit import read_history
from tests.harness import InProcessSystem
from tests.integration.test_engine import wait_state

pytestmark = pytest.mark.etcd

QUEUE = "default"


async def test_a_task_costs_eight_key_operations(system: InProcessSystem, client: AsyncClient,
                                                 store: Store, keys: Keyspace) -> None:
    """Submit (record, pending), dispatch (pending out, record, assignment), end (record,
    assignment out, done): 8 puts and deletes of keys naming the task; 9 when its attempt
    ran long enough to have a `running` record. Nothing else names it."""
    await system.scheduler()
    await system.worker()
    start = await store.revision() + 1
    tasks = await client.submit_many([TaskSpec("noop") for _ in range(40)])
    done = await client.wait([t.id for t in tasks], timeout=30)
    assert {t.state for t in done} == {TaskState.SUCCEEDED}
    _, events = await read_history(store, keys, start)
    ops = Counter(keys.task_id_of(e.key) for e in events)
    for task in tasks:
        record = await store.get(keys.task(task.id))
        assert record is not None
        running_written = record.version - 3  # submit, dispatch, end (+1: running)
        assert running_written in (0, 1), record.version
        assert ops[task.id] == 8 + running_written, (
            task.id, sorted(e.key for e in events if e.key.endswith(task.id)))
    legacy = [e.key for e in events if "/active/" in e.key or e.key.startswith(f"{keys.root}assign/")]
    assert legacy == []


async def test_an_end_is_refused_once_the_worker_key_is_under_another_lease(
        client: AsyncClient, store: Store, keys: Keyspace) -> None:
    """A worker that came back under a new lease (its key rewritten) while an attempt of its
    old session still runs: the old attempt's end fails even though its assignment is
    still there at its token (the leader has not handed it back yet)."""
    task = await client.submit("noop")
    old, new = await store.grant(30), await store.grant(30)
    worker_key = keys.worker(QUEUE, "w0")
    assigned = task.evolve(state=TaskState.ASSIGNED, worker="w0", attempts=1)
    blob = codec.dump(assigned)
    claim_key = keys.assignment(QUEUE, "w0", old, task.id)
    await store.txn([], [Delete(keys.pending(QUEUE, task.priority, task.id)),
                         Put(keys.task(task.id), blob), Put(claim_key, blob),
                         Put(worker_key, b"{}", lease=old)])
    claim_kv = await store.get(claim_key)
    assert claim_kv is not None
    claim = Claim(assigned, claim_key, claim_kv.mod_revision)
    end = Write(claim, assigned.evolve(state=TaskState.SUCCEEDED, result=1), final=True)

    await store.put(worker_key, b"{}", lease=new)  # the worker registered again
    outcome: dict[str, bool] = {}
    await AttemptLog(store, keys, worker_key, old).commit([end], outcome)
    assert outcome == {task.id: False}
    assert (await client.get(task.id)).state is TaskState.ASSIGNED
    assert await store.get(claim_key) is not None

    await store.put(worker_key, b"{}", lease=old)  # the control: under its lease it commits
    await AttemptLog(store, keys, worker_key, old).commit([end], outcome)
    assert outcome == {task.id: True}
    assert (await client.get(task.id)).state is TaskState.SUCCEEDED
    await store.revoke(old)
    await store.revoke(new)


async def _assign_the_earlier_way(store: Store, keys: Keyspace, client: AsyncClient,
                                  worker: str, lease: int) -> str:
    """A pending task moved to `assigned` as builds before this layout did: an active
    entry, and (when `lease`) an assignment under the worker's lease at `assign/`."""
    task = await client.submit("noop")
    assigned = task.evolve(state=TaskState.ASSIGNED, worker=worker, attempts=1)
    blob = codec.dump(assigned)
    ops = [Delete(keys.pending(QUEUE, task.priority, task.id)), Put(keys.task(task.id), blob),
           Put(f"{keys.legacy_active_all(QUEUE)}{worker}/{task.id}", b"1")]
    if lease:
        ops.append(Put(keys.legacy_assignment(worker, task.id), blob, lease=lease))
    result = await store.txn([Compare.present(keys.task(task.id))], ops)
    assert result.succeeded
    return task.id


async def test_tasks_assigned_in_the_earlier_layout_are_handed_back_after_an_upgrade(
        system: InProcessSystem, client: AsyncClient, store: Store, keys: Keyspace) -> None:
    """An upgrade meets tasks assigned by the previous build: those whose worker is gone go
    back to pending and run; one whose old worker still lives is left to it until its lease
    ends."""
    alive = await store.grant(60)
    orphan = await _assign_the_earlier_way(store, keys, client, "old-gone", 0)
    held = await _assign_the_earlier_way(store, keys, client, "old-alive", alive)
    await system.scheduler()
    await system.worker()
    (ran,) = await client.wait([orphan], timeout=20)
    assert ran.state is TaskState.SUCCEEDED and ran.worker == "w0"
    assert [a.outcome for a in ran.history] == ["lost", "succeeded"]
    await asyncio.sleep(0.5)
    assert (await client.get(held)).state is TaskState.ASSIGNED
    await store.revoke(alive)  # the old worker goes: its task comes back and runs here
    await wait_state(client, held, TaskState.SUCCEEDED, timeout=20)
    assert await store.count(keys.legacy_active_all(QUEUE)) == 0


async def test_a_dispatch_round_larger_than_one_transaction_commits_every_group_once(
        system: InProcessSystem, client: AsyncClient, store: Store, keys: Keyspace) -> None:
    """150 pending tasks and one worker with room for all: one round places 150 (3 key
    operations each, so 4 transactions of at most 128 operations, in flight together).
    Every task is assigned once, in a transaction of its group, and runs once."""
    await system.scheduler()
    tasks = await client.submit_many([TaskSpec("noop") for _ in range(150)])
    start = await store.revision() + 1
    await system.worker(max_concurrent=150, prefetch=0)
    done = await client.wait([t.id for t in tasks], timeout=30)
    assert [(t.state, t.attempts, len(t.history)) for t in done] == [
        (TaskState.SUCCEEDED, 1, 1)] * 150
    _, events = await read_history(store, keys, start)
    assigned = [e for e in events if e.put and "/assign/" in e.key]
    assert Counter(keys.task_id_of(e.key) for e in assigned) == Counter(t.id for t in tasks)
    per_txn = Counter(e.kv.mod_revision for e in assigned)
    assert len(per_txn) >= 4 and max(per_txn.values()) <= 42, per_txn
