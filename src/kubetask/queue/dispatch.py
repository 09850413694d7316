"""Leader-side moves of tasks, each fenced on the leader's election key.

pending -> assigned (dispatch), delayed -> pending (backoff over), and orphaned
assigned/running -> pending (the worker's lease, and so its assignment, is gone).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kubetask.errors import NotLeader
from kubetask.model import Attempt, Task, TaskState
from kubetask.queue import codec
from kubetask.queue.indexes import index_move
from kubetask.store import Compare, Delete, Get, Keyspace, KeyValue, Op, Put, Store, chunks

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


class Dispatcher:
    """The fenced writes of the scheduler leader of one queue."""

    def __init__(self, store: Store, keys: Keyspace, queue: str) -> None:
        self.store = store
        self.keys = keys
        self.queue = queue

    async def read_pending(self, priority: int, limit: int) -> tuple[list[KeyValue], bool]:
        """The first `limit` pending keys of one priority (FIFO), with their records; and
        whether more remain."""
        result = await self.store.range(
            Get(self.keys.pending_priority(self.queue, priority), prefix=True), limit=limit)
        return result.kvs, result.more

    async def assign(self, placements: Sequence[Placement], fence: Compare) -> list[Placement]:
        """Commit placements; returns those committed. Raises NotLeader when the fence
        fails, LeaseLost when a worker's lease is gone (caller drops that worker)."""
        committed: list[Placement] = []
        for group in chunks(placements, ops_per_item=4, extra_ops=0,
                            size_of=[3 * len(p.pending.kv.value) for p in placements]):
            committed += await self._assign_group(group, fence)
        return committed

    async def _assign_group(self, group: list[Placement], fence: Compare) -> list[Placement]:
        compares = [fence]
        ops: list[Op] = []
        assigned_at = str(time.time()).encode()  # what the active index entries hold
        for p in group:
            task = p.pending.task.evolve(state=TaskState.ASSIGNED, worker=p.worker,
                                         attempts=p.pending.task.attempts + 1, error=None)
            blob = codec.dump(task)
            compares.append(Compare.mod_revision(p.pending.kv.key, p.pending.kv.mod_revision))
            unindex, index = index_move(self.keys, p.pending.kv.key, task, assigned_at)
            ops += [unindex, Put(self.keys.task(task.id), blob), index,
                    Put(self.keys.assignment(p.worker, task.id), blob, p.lease)]
        result = await self.store.txn(compares, ops, [Get(fence.key, keys_only=True)])
        if result.succeeded:
            return group
        leader = result.responses[0]
        assert leader is not None and not isinstance(leader, int)
        if not leader.kvs or leader.kvs[0].create_revision != fence.value:
            raise NotLeader("leadership lost before dispatch committed")
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
        """Active entries whose assignment is gone (worker lease expired)."""
        active = await self.store.range_all(Get(self.keys.active_all(self.queue), prefix=True,
                                                keys_only=True))
        by_worker: dict[str, list[KeyValue]] = {}
        for kv in active.kvs:
            by_worker.setdefault(self.keys.worker_of_active(kv.key), []).append(kv)
        lost: list[KeyValue] = []
        for worker, kvs in by_worker.items():
            assigned = await self.store.range_all(Get(self.keys.assignments(worker), prefix=True,
                                                      keys_only=True))
            live = {self.keys.task_id_of(kv.key) for kv in assigned.kvs}
            lost += [kv for kv in kvs if self.keys.task_id_of(kv.key) not in live
                     and kv.mod_revision <= active.revision]
        return lost

    async def requeue_orphan(self, active: KeyValue, fence: Compare) -> TaskState | None:
        """Hand an orphaned task back to pending (or to its end, when cancelled or lost
        too often). Returns the state it moved to, None if something changed meanwhile."""
        worker = self.keys.worker_of_active(active.key)
        task_id = self.keys.task_id_of(active.key)
        record = await self.store.get(self.keys.task(task_id))
        if record is None:
            await self.store.txn([fence, Compare.mod_revision(active.key, active.mod_revision)],
                                 [Delete(active.key)])
            return None
        task = codec.load(record.value)
        if task.state not in (TaskState.ASSIGNED, TaskState.RUNNING):
            # The attempt ended between our reads of the active index and of the
            # assignments (its end deletes both): not an orphan. Drop the active key only
            # if it is somehow still there, unchanged, next to an unchanged record.
            await self.store.txn([fence, Compare.mod_revision(active.key, active.mod_revision),
                                  Compare.mod_revision(record.key, record.mod_revision)],
                                 [Delete(active.key)])
            return None
        cancel = await self.store.get(self.keys.cancel(task_id))
        attempt = Attempt(number=task.attempt_number, worker=worker, token=0,
                          started_at=task.started_at, finished_at=time.time(), outcome="lost",
                          error=f"worker {worker} lost (lease expired)")
        history = (*task.history, attempt)
        if cancel is not None:
            after = task.evolve(state=TaskState.CANCELLED, finished_at=time.time(),
                                history=history, error="cancelled by request")
        elif task.lost + 1 >= MAX_LOST:
            after = task.evolve(state=TaskState.DEAD, finished_at=time.time(), history=history,
                                lost=task.lost + 1,
                                error=f"lost its worker {task.lost + 1} times in a row")
        else:
            after = task.evolve(state=TaskState.PENDING, worker=None, history=history,
                                lost=task.lost + 1, attempts=max(task.attempts - 1, 0))
        blob = codec.dump(after)
        ops: list[Op] = [*index_move(self.keys, active.key, after, blob), Put(record.key, blob)]
        if cancel is not None:
            ops.append(Delete(cancel.key))
        result = await self.store.txn(
            [fence, Compare.mod_revision(active.key, active.mod_revision),
             Compare.absent(self.keys.assignment(worker, task_id)),
             Compare.mod_revision(record.key, record.mod_revision)], ops)
        return after.state if result.succeeded else None
