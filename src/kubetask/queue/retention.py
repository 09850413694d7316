"""Retention: finished tasks older than the retention period are deleted (fenced)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kubetask.model import Task, TaskState
from kubetask.queue import codec
from kubetask.store import Compare, Delete, Get, Keyspace, KeyValue, Op, Store

log = logging.getLogger(__name__)

FINISHED = (TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED)


class Retention:
    def __init__(self, store: Store, keys: Keyspace, queue: str) -> None:
        self.store = store
        self.keys = keys
        self.queue = queue

    async def expired(self, cutoff: float, page: int = 200) -> list[tuple[KeyValue, Task]]:
        """Finished tasks (oldest ids first, a page per state) that finished before `cutoff`."""
        found: list[tuple[KeyValue, Task]] = []
        for state in FINISHED:
            index = await self.store.range(Get(self.keys.done_state(self.queue, state.value),
                                               prefix=True, keys_only=True), limit=page)
            ids = [self.keys.task_id_of(kv.key) for kv in index.kvs]
            if not ids:
                continue
            result = await self.store.txn([], [Get(self.keys.task(i)) for i in ids])
            for response in result.responses:
                if response is None or isinstance(response, int) or not response.kvs:
                    continue
                kv = response.kvs[0]
                task = codec.load(kv.value)
                if task.terminal and (task.finished_at or task.created_at) < cutoff:
                    found.append((kv, task))
        return found

    async def delete(self, expired: Sequence[tuple[KeyValue, Task]], fence: Compare) -> int:
        deleted = 0
        for start in range(0, len(expired), 25):
            group = expired[start:start + 25]
            compares = [fence] + [Compare.mod_revision(kv.key, kv.mod_revision)
                                  for kv, _ in group]
            ops: list[Op] = []
            for kv, task in group:
                ops += [Delete(kv.key), Delete(self.keys.done(self.queue, task.state.value, task.id)),
                        Delete(f"{self.keys.failures(self.queue)}{task.id}.", prefix=True),
                        Delete(self.keys.cancel(task.id))]  # a cancel that lost a race
                if task.idempotency_key:
                    ops.append(Delete(self.keys.idempotency(self.queue, task.idempotency_key)))
            result = await self.store.txn(compares, ops)
            if result.succeeded:
                deleted += len(group)
        return deleted
