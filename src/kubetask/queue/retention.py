"""Retention: finished tasks older than the retention period are deleted (fenced)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence

from kubetask.model import Task, TaskState
from kubetask.queue import codec
from kubetask.queue.indexes import index_key, index_prefix
from kubetask.store import Compare, Delete, Get, Keyspace, KeyValue, Op, Store, chunks, prefix_end

log = logging.getLogger(__name__)

FINISHED = (TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED)
Expired = list[tuple[KeyValue, Task]]  # finished tasks past retention: (record, task)
PAGE = 100  # index entries looked at per step; their records are read in one round trip


class Retention:
    def __init__(self, store: Store, keys: Keyspace, queue: str) -> None:
        self.store = store
        self.keys = keys
        self.queue = queue

    async def expired(self, cutoff: float, page: int = PAGE) -> AsyncGenerator[Expired, None]:
        """Finished tasks that finished before `cutoff`, a page at a time, oldest ids first
        in each state. The walk of a state stops at the first page with none expired: ids
        are time-ordered, so the tasks behind it were created later (a long-running one
        that finished late holds back the walk only until it expires itself)."""
        for state in FINISHED:
            prefix = index_prefix(self.keys, self.queue, state)
            start = prefix
            while True:
                index = await self.store.range(Get(start, end=prefix_end(prefix), keys_only=True),
                                               limit=page)
                found = await self._expired_records(index.kvs, cutoff)
                if found:
                    yield found
                if not found or not index.more:
                    break
                start = index.kvs[-1].key + "\x00"

    async def _expired_records(self, index: Sequence[KeyValue],
                               cutoff: float) -> Expired:
        ids = [self.keys.task_id_of(kv.key) for kv in index]
        found: Expired = []
        for record in await self.store.read_many([Get(self.keys.task(i)) for i in ids]):
            if not record.kvs:
                continue
            kv = record.kvs[0]
            task = codec.load(kv.value)
            if task.terminal and (task.finished_at or task.created_at) < cutoff:
                found.append((kv, task))
        return found

    async def delete(self, expired: Sequence[tuple[KeyValue, Task]], fence: Compare) -> int:
        """Delete each task with its index entries, unless its record changed meanwhile.
        Returns how many were deleted."""
        ops = [self._delete_ops(task) for _, task in expired]
        deleted = 0
        for group in chunks(range(len(expired)), ops_per_item=[len(o) for o in ops]):
            deleted += await self._delete_group([expired[i] for i in group],
                                                [op for i in group for op in ops[i]], fence)
        return deleted

    async def _delete_group(self, group: list[tuple[KeyValue, Task]], ops: list[Op],
                            fence: Compare) -> int:
        compares = [fence] + [Compare.mod_revision(kv.key, kv.mod_revision) for kv, _ in group]
        result = await self.store.txn(compares, ops)
        if result.succeeded:
            return len(group)
        if len(group) == 1:
            return 0
        # One record changed (a dead task re-queued, say): the others go one by one.
        return sum([await self._delete_group([item], self._delete_ops(item[1]), fence)
                    for item in group])

    def _delete_ops(self, task: Task) -> list[Op]:
        ops: list[Op] = [
            Delete(self.keys.task(task.id)),
            Delete(index_key(self.keys, task)),  # its done entry: the task is finished
            Delete(f"{self.keys.failures(self.queue)}{task.id}.", prefix=True),
            Delete(self.keys.cancel(task.id)),  # a cancel that lost a race
        ]
        if task.idempotency_key:
            ops.append(Delete(self.keys.idempotency(self.queue, task.idempotency_key)))
        return ops
