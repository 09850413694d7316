"""Leader-side moves of tasks, each fenced on the leader's election key.

pending -> assigned (dispatch), delayed -> pending (backoff over), and orphaned
assigned/running -> pending (the lease the assignment was claimed under is no longer its
worker's: the worker died, or registered again under a new lease).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kubetask.errors import LeaseLost, NotLeader
from kubetask.model import Attempt, Task, TaskState
from kubetask.queue import codec
from kubetask.queue.indexes import index_move
from kubetask.store import (
    Compare,
    Delete,
    Get,
    Keyspace,
    KeyValue,
    Op,
    Put,
    RangeResult,
    Store,
    chunks,
)

log = logging.getLogger(__name__)

# A task whose worker was lost this many times in a row goes dead instead of looping
# forever (a poison task that kills its worker). Lost attempts do not use up retries.
MAX_LOST = 5


class Pending:
    """A pending index entry; its task is decoded when first needed (a deep backlog is
    mostly read and never looked at before the next read)."""

    __slots__ = ("_task", "kv")

    def __init__(self, kv: KeyValue, task: Task | None = None) -> None:
        self.kv = kv
        self._task = task

    @property
    def task(self) -> Task:
        if self._task is None:
            self._task = codec.load(self.kv.value)
        return self._task


@dataclass(frozen=True, slots=True)
class Placement:
    pending: Pending
    worker: str
    lease: int
    rank: int | None = None  # the effective priority, when aging raised it


class Dispatcher:
    """The fenced writes of the scheduler leader of one queue."""

    def __init__(self, store: Store, keys: Keyspace, queue: str) -> None:
        self.store = store
        self.keys = keys
        self.queue = queue
        # Entries of the earlier layout may remain after an upgrade; none is written any
        # more, so once the leader finds none it stops reading for them.
        self._legacy_entries = True

    async def read_pending(self, priority: int, limit: int) -> tuple[list[KeyValue], bool]:
        """The first `limit` pending keys of one priority (FIFO), with their records; and
        whether more remain."""
        result = await self.store.range(
            Get(self.keys.pending_priority(self.queue, priority), prefix=True), limit=limit)
        return result.kvs, result.more

    async def assign(self, placements: Sequence[Placement], fence: Compare) -> list[Placement]:
        """Commit placements; returns those committed. Raises NotLeader when the fence
        fails, LeaseLost when a worker's key is no longer under the lease placed on
        (the caller refreshes its view of the workers)."""
        groups = list(chunks(placements, ops_per_item=3, extra_ops=0,
                             size_of=[2 * len(p.pending.kv.value) for p in placements]))
        if len(groups) == 1:
            return await self._assign_group(groups[0], fence)
        # Each group is fenced on its own and touches its own tasks: in flight together,
        # etcd commits them in one WAL sync instead of one after another.
        results = await asyncio.gather(*(self._assign_group(g, fence) for g in groups),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # NotLeader first: it ends the term, whatever else failed
            raise next((e for e in errors if isinstance(e, NotLeader)), errors[0])
        return [p for r in results if isinstance(r, list) for p in r]

    async def _assign_group(self, group: list[Placement], fence: Compare) -> list[Placement]:
        """pending -> assigned: the pending entry goes, the record and the assignment (the
        record as assigned, claimed under the worker's lease) are put. Each worker's key must
        still be under that lease: a claim is never made for a session that is gone."""
        leases = {p.worker: p.lease for p in group}
        worker_keys = [self.keys.worker(self.queue, w) for w in leases]
        compares = [fence, *(Compare(key, "lease", "==", lease)
                             for key, lease in zip(worker_keys, leases.values(), strict=True))]
        ops: list[Op] = []
        for p in group:
            task = p.pending.task.evolve(state=TaskState.ASSIGNED, worker=p.worker,
                                         attempts=p.pending.task.attempts + 1, error=None,
                                         rank=p.rank)
            blob = codec.dump(task)
            compares.append(Compare.mod_revision(p.pending.kv.key, p.pending.kv.mod_revision))
            unindex, index = index_move(self.keys, p.pending.kv.key, task, blob, p.lease)
            ops += [unindex, Put(self.keys.task(task.id), blob), index]
        result = await self.store.txn(
            compares, ops, [Get(key, keys_only=True) for key in [fence.key, *worker_keys]])
        if result.succeeded:
            return group
        leader, *workers = result.responses
        assert isinstance(leader, RangeResult)
        if not leader.kvs or leader.kvs[0].create_revision != fence.value:
            raise NotLeader("leadership lost before dispatch committed")
        for (worker, lease), now in zip(leases.items(), workers, strict=True):
            assert isinstance(now, RangeResult)
            if not now.kvs or now.kvs[0].lease != lease:
                raise LeaseLost(f"worker {worker} is no longer under lease {lease:x}")
        # Some pending key changed under us (a cancel): commit the rest one by one.
        committed: list[Placement] = []
        if len(group) > 1:
            for p in group:
                committed += await self._assign_group([p], fence)
        return committed

    # --- delayed -> pending ------------------------------------------------------
    async def due_delayed(self, now: float, limit: int = 256) -> tuple[list[KeyValue], float | None]:
        """Delayed tasks due by `now`, and the due time of the next one not yet due."""
        result = await self.store.range(Get(self.keys.delayed_all(self.queue), prefix=True),
                                        limit=limit)
        due = [kv for kv in result.kvs if self.keys.due_of(kv.key) <= now]
        later = [self.keys.due_of(kv.key) for kv in result.kvs if self.keys.due_of(kv.key) > now]
        return due, (min(later) if later else None)

    async def promote(self, due: Sequence[KeyValue], fence: Compare) -> int:
        moved = 0
        for group in chunks(due, ops_per_item=3, size_of=[2 * len(kv.value) for kv in due]):
            compares = [fence]
            ops: list[Op] = []
            for kv in group:
                task = codec.load(kv.value).evolve(state=TaskState.PENDING, run_at=None)
                blob = codec.dump(task)
                compares.append(Compare.mod_revision(kv.key, kv.mod_revision))
                unindex, index = index_move(self.keys, kv.key, task, blob)
                ops += [unindex, Put(self.keys.task(task.id), blob), index]
            result = await self.store.txn(compares, ops)
            if result.succeeded:
                moved += len(group)
            elif len(group) > 1:
                for kv in group:
                    moved += await self.promote([kv], fence)
        return moved

    # --- orphans -> pending --------------------------------------------------------
    async def orphans(self) -> list[KeyValue]:
        """Assignments claimed under a lease that is not their worker's now (the worker
        died, or came back under another lease), and entries of the earlier layout."""
        result = await self.store.txn([], [
            Get(self.keys.assignments_all(self.queue), prefix=True, keys_only=True),
            Get(self.keys.workers(self.queue), prefix=True, keys_only=True)])
        assigned, workers = result.responses
        assert isinstance(assigned, RangeResult) and isinstance(workers, RangeResult)
        live = {(self.keys.worker_id_of(kv.key), kv.lease) for kv in workers.kvs}
        lost = [kv for kv in assigned.kvs if self.keys.claim_of(kv.key) not in live]
        return lost + await self._legacy_orphans()

    async def _legacy_orphans(self) -> list[KeyValue]:
        """Active entries of the earlier layout whose assignment (under the worker's lease)
        is gone. After an upgrade, only tasks assigned before it have them."""
        if not self._legacy_entries:
            return []
        active = await self.store.range_all(Get(self.keys.legacy_active_all(self.queue),
                                                prefix=True, keys_only=True))
        self._legacy_entries = bool(active.kvs)
        lost: list[KeyValue] = []
        for kv in active.kvs:
            worker = self.keys.legacy_worker_of_active(kv.key)
            claim = self.keys.legacy_assignment(worker, self.keys.task_id_of(kv.key))
            if await self.store.get(claim) is None:
                lost.append(kv)
        return lost

    def _holder(self, orphan: KeyValue) -> tuple[str, Compare]:
        """The worker an orphaned entry names, and what shows its claim is dead."""
        if orphan.key.startswith(self.keys.assignments_all(self.queue)):
            worker, lease = self.keys.claim_of(orphan.key)
            return worker, Compare(self.keys.worker(self.queue, worker), "lease", "!=", lease)
        worker = self.keys.legacy_worker_of_active(orphan.key)
        return worker, Compare.absent(self.keys.legacy_assignment(
            worker, self.keys.task_id_of(orphan.key)))

    def worker_of(self, orphan: KeyValue) -> str:
        return self._holder(orphan)[0]

    async def requeue_orphan(self, orphan: KeyValue, fence: Compare) -> TaskState | None:
        """Hand an orphaned task back to pending (or to its end, when cancelled or lost
        too often). Returns the state it moved to, None if something changed meanwhile."""
        worker, dead_claim = self._holder(orphan)
        task_id = self.keys.task_id_of(orphan.key)
        entry = Compare.mod_revision(orphan.key, orphan.mod_revision)
        record = await self.store.get(self.keys.task(task_id))
        if record is None:
            await self.store.txn([fence, entry], [Delete(orphan.key)])
            return None
        task = codec.load(record.value)
        if task.state not in (TaskState.ASSIGNED, TaskState.RUNNING):
            # The attempt ended between our reads (its end deletes the entry). Drop the
            # entry only if it is somehow still there, unchanged, next to an unchanged record.
            await self.store.txn([fence, entry,
                                  Compare.mod_revision(record.key, record.mod_revision)],
                                 [Delete(orphan.key)])
            return None
        cancel = await self.store.get(self.keys.cancel(task_id))
        after = _after_loss(task, worker, cancelled=cancel is not None)
        blob = codec.dump(after)
        ops: list[Op] = [*index_move(self.keys, orphan.key, after, blob), Put(record.key, blob)]
        if cancel is not None:
            ops.append(Delete(cancel.key))
        result = await self.store.txn(
            [fence, entry, dead_claim, Compare.mod_revision(record.key, record.mod_revision)],
            ops)
        return after.state if result.succeeded else None


def _after_loss(task: Task, worker: str, *, cancelled: bool) -> Task:
    """The record of a task whose worker was lost: back to pending, or cancelled (a cancel
    was asked), or dead (lost too often in a row)."""
    now = time.time()
    attempt = Attempt(number=task.attempt_number, worker=worker, token=0,
                      started_at=task.started_at, finished_at=now, outcome="lost",
                      error=f"worker {worker} lost (lease expired)")
    history = (*task.history, attempt)
    if cancelled:
        return task.evolve(state=TaskState.CANCELLED, finished_at=now, history=history,
                           error="cancelled by request")
    if task.lost + 1 >= MAX_LOST:
        return task.evolve(state=TaskState.DEAD, finished_at=now, history=history,
                           lost=task.lost + 1,
                           error=f"lost its worker {task.lost + 1} times in a row")
    return task.evolve(state=TaskState.PENDING, worker=None, history=history,
                       lost=task.lost + 1, attempts=max(task.attempts - 1, 0))
