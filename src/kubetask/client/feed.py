"""Changes of task records as they happen: `AsyncClient.task_changes()`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Container

from kubetask.model import Task
from kubetask.queue import codec
from kubetask.store import Keyspace, Store, Watch


class TaskFeed:
    """Batches of tasks whose record changed (one etcd revision never split), from
    `start_revision` on; with `only`, just those task ids (checked as changes arrive, so
    the caller may shrink it). Raises `Compacted` when that history is gone: read again,
    then open a new feed. `close()` ends the iteration (from another task too)."""

    def __init__(self, store: Store, keys: Keyspace, start_revision: int,
                 only: Container[str] | None = None) -> None:
        self.start_revision = start_revision
        self._keys = keys
        self._only = only
        self._watch = Watch(store, keys.tasks(), start_revision=start_revision, puts_only=True)

    async def __aiter__(self) -> AsyncIterator[list[Task]]:
        only, task_id_of = self._only, self._keys.task_id_of
        async for batch in self._watch:
            tasks = [codec.load(event.kv.value) for event in batch
                     if only is None or task_id_of(event.key) in only]
            if tasks:
                yield tasks

    def close(self) -> None:
        self._watch.close()
