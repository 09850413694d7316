"""Client-side mutations: submit (batched, idempotent), cancel, re-queue a dead task."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from kubetask.errors import StoreUnavailable, TaskNotFound, TaskStateError
from kubetask.model import Task, TaskState
from kubetask.queue import codec
from kubetask.queue.indexes import index_move, index_put
from kubetask.store import Compare, Get, Keyspace, Op, Put, Store, chunks

log = logging.getLogger(__name__)

_RETRIES = 8  # compare-and-swap loops re-read and retry at most this often


class Producer:
    """Writes new tasks and user decisions about existing ones."""

    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys
        self._known_queues: set[str] = set()

    # --- submit ----------------------------------------------------------------
    async def submit(self, tasks: Sequence[Task]) -> list[Task]:
        """Store `tasks` (PENDING, or RETRYING-style delayed when run_at is in the future).

        Returns the stored tasks; for a task whose idempotency key was used before, the
        task stored first under that key is returned instead (and nothing is written).
        """
        blobs = [codec.dump(t) for t in tasks]
        out: list[Task] = []
        # 2 puts a task, 3 with an idempotency key, one more for the marker of a queue not
        # known yet (reserved by each of its tasks: a group may hold any of them).
        ops = [2 + bool(t.idempotency_key) + (t.queue not in self._known_queues) for t in tasks]
        for group in chunks(range(len(tasks)), ops_per_item=ops,
                            size_of=[2 * len(b) for b in blobs]):
            out.extend(await self._submit_group([tasks[i] for i in group],
                                                [blobs[i] for i in group]))
        return out

    def _submit_ops(self, task: Task, blob: bytes) -> tuple[list[Compare], list[Op]]:
        compares = [Compare.absent(self.keys.task(task.id))]
        # PENDING: pending index, or delayed when run_at is set (the client clears run_at
        # when it is not in the future)
        ops: list[Op] = [Put(self.keys.task(task.id), blob), index_put(self.keys, task, blob)]
        if task.idempotency_key:
            idem = self.keys.idempotency(task.queue, task.idempotency_key)
            compares.append(Compare.absent(idem))
            ops.append(Put(idem, task.id.encode()))
        return compares, ops

    async def _submit_group(self, tasks: list[Task], blobs: list[bytes]) -> list[Task]:
        compares: list[Compare] = []
        ops: list[Op] = []
        for task, blob in zip(tasks, blobs, strict=True):
            c, o = self._submit_ops(task, blob)
            compares += c
            ops += o
        for queue in {t.queue for t in tasks} - self._known_queues:
            ops.append(Put(self.keys.queue_meta(queue), b"{}"))
        for attempt in range(_RETRIES):
            try:
                result = await self.store.txn(compares, ops)
            except StoreUnavailable:
                # Outcome unknown: retry the same transaction; its compares make a
                # second commit impossible, and the read-back below resolves it.
                log.warning("submit: etcd unavailable, retrying (%d)", attempt + 1)
                continue
            if result.succeeded:
                self._known_queues.update(t.queue for t in tasks)
                return list(tasks)
            return [await self._submit_one(t, b) for t, b in zip(tasks, blobs, strict=True)]
        raise StoreUnavailable("submit: etcd stayed unavailable; nothing is known to be stored")

    async def _submit_one(self, task: Task, blob: bytes) -> Task:
        """Resolve one task after a group's compare failed (a retry, or a used idempotency key)."""
        compares, ops = self._submit_ops(task, blob)
        if task.queue not in self._known_queues:
            ops.append(Put(self.keys.queue_meta(task.queue), b"{}"))
        reads: list[Op] = [Get(self.keys.task(task.id))]
        if task.idempotency_key:
            reads.append(Get(self.keys.idempotency(task.queue, task.idempotency_key)))
        result = await self.store.txn(compares, ops, reads)
        if result.succeeded:
            return task
        existing = result.responses[0]
        if existing and not isinstance(existing, int) and existing.kvs:
            return codec.load(existing.kvs[0].value)  # our own earlier try committed
        idem = result.responses[1]
        assert idem is not None and not isinstance(idem, int) and idem.kvs
        first = await self.store.get(self.keys.task(idem.kvs[0].value.decode()))
        if first is None:
            raise TaskNotFound(f"idempotency key {task.idempotency_key!r} points to a task "
                               "that no longer exists")
        return codec.load(first.value)

    # --- cancel and retry ------------------------------------------------------
    async def cancel(self, task_id: str) -> Task:
        """Cancel a task. Pending and delayed tasks end at once; an assigned or running
        task gets a cancel request its worker acts on (the returned task is then still
        running: wait for it to become `cancelled`)."""
        for _ in range(_RETRIES):
            kv = await self.store.get(self.keys.task(task_id))
            if kv is None:
                raise TaskNotFound(f"no task {task_id!r} in namespace {self.keys.namespace!r}")
            task = codec.load(kv.value)
            if task.terminal:
                raise TaskStateError(f"task {task_id} already {task.state.value}; "
                                     "only pending, retrying or running tasks can be cancelled")
            if task.state in (TaskState.ASSIGNED, TaskState.RUNNING):
                result = await self.store.txn(
                    [Compare.mod_revision(kv.key, kv.mod_revision)],
                    [Put(self.keys.cancel(task_id), b"1")])
                if result.succeeded:
                    return task
                continue
            done = task.evolve(state=TaskState.CANCELLED, finished_at=time.time(),
                               error="cancelled by request")
            blob = codec.dump(done)
            unindex, index = index_move(self.keys, task, done, blob)
            result = await self.store.txn(
                [Compare.mod_revision(kv.key, kv.mod_revision), Compare.present(unindex.key)],
                [unindex, Put(kv.key, blob), index])
            if result.succeeded:
                return done
        raise TaskStateError(f"task {task_id} kept changing; try the cancel again")

    async def retry(self, task_id: str) -> Task:
        """Re-queue a dead (or cancelled) task with a fresh retry budget."""
        for _ in range(_RETRIES):
            kv = await self.store.get(self.keys.task(task_id))
            if kv is None:
                raise TaskNotFound(f"no task {task_id!r} in namespace {self.keys.namespace!r}")
            task = codec.load(kv.value)
            if task.state is not TaskState.DEAD:
                raise TaskStateError(f"task {task_id} is {task.state.value}; "
                                     "only dead tasks can be retried")
            again = task.evolve(state=TaskState.PENDING, attempts=0, lost=0, worker=None,
                                error=None, result=None, started_at=None, finished_at=None,
                                run_at=None)
            blob = codec.dump(again)
            result = await self.store.txn(
                [Compare.mod_revision(kv.key, kv.mod_revision)],
                [Put(kv.key, blob), *index_move(self.keys, task, again, blob)])
            if result.succeeded:
                return again
        raise TaskStateError(f"task {task_id} kept changing; try again")
