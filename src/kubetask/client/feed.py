"""Changes of task records as they happen (`AsyncClient.task_changes()`), and following
tasks until they end (`AsyncClient.wait()`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Container, Sequence

from kubetask.errors import TaskNotFound
from kubetask.model import Task
from kubetask.queue import codec
from kubetask.store import Get, Keyspace, ListWatch, RangeResult, Store, Watch, revision_only


class TaskFeed:
    """Batches of tasks whose record changed (one etcd revision never split), from
    `start_revision` on; with `only`, just those task ids (checked as changes arrive, so
    the caller may shrink it). When that history is gone (etcd compacted it), a feed
    without `resync` raises `Compacted` (read again, then open a new feed); one with
    `resync` calls it (the caller reads again) and goes on from the current revision.
    `close()` ends the iteration (from another task too)."""

    def __init__(self, store: Store, keys: Keyspace, start_revision: int,
                 only: Container[str] | None = None, *,
                 resync: Callable[[], None] | None = None) -> None:
        self.start_revision = start_revision
        self._keys = keys
        self._only = only
        self._source: Watch | ListWatch
        if resync is None:
            self._source = Watch(store, keys.tasks(), start_revision=start_revision,
                                 puts_only=True)
        else:
            self._source = ListWatch(store, keys.tasks(), after_revision=start_revision - 1,
                                     read=revision_only(store), on_list=lambda _: resync(),
                                     puts_only=True)

    async def __aiter__(self) -> AsyncIterator[list[Task]]:
        only, task_id_of = self._only, self._keys.task_id_of
        async for batch in self._source:
            tasks = [codec.load(event.kv.value) for event in batch
                     if only is None or task_id_of(event.key) in only]
            if tasks:
                yield tasks

    def close(self) -> None:
        self._source.close()


async def until_terminal(store: Store, keys: Keyspace, ids: Sequence[str]) -> dict[str, Task]:
    """The tasks `ids`, each once it is terminal: read, then followed (and read again
    after a compaction). TaskNotFound for one that does not exist, or no longer does."""
    return await _Waiter(store, keys, ids).run()


class _Waiter:
    def __init__(self, store: Store, keys: Keyspace, ids: Sequence[str]) -> None:
        self.store = store
        self.keys = keys
        self.ids = ids
        self.tasks: dict[str, Task] = {}
        self.open = set(ids)
        self.follow = ListWatch(store, keys.tasks(), on_list=self._on_list, read=self._read,
                                puts_only=True)

    async def run(self) -> dict[str, Task]:
        task_id_of, open_ids = self.keys.task_id_of, self.open
        try:
            await self.follow.list()
            async for batch in self.follow:
                for event in batch:
                    if task_id_of(event.key) in open_ids:
                        self._note(codec.load(event.kv.value))
                if not open_ids:
                    break
        finally:
            self.follow.close()
        return self.tasks

    def _note(self, task: Task) -> None:
        self.tasks[task.id] = task
        if task.terminal:
            self.open.discard(task.id)

    async def _read(self) -> RangeResult:
        # The revision first: following from it + 1 may replay a change already read,
        # never miss one.
        revision = await self.store.revision()
        results = await self.store.read_many([Get(self.keys.task(i)) for i in self.ids
                                              if i in self.open])
        kvs = [result.kvs[0] for result in results if result.kvs]
        return RangeResult(kvs, len(kvs), False, revision)

    def _on_list(self, result: RangeResult) -> None:
        found = {task.id: task for task in (codec.load(kv.value) for kv in result.kvs)}
        missing = [i for i in self.ids if i in self.open and i not in found]
        if missing:
            raise TaskNotFound(f"no task {missing[0]!r} in namespace {self.keys.namespace!r}")
        for task in found.values():
            self._note(task)
        if not self.open:
            self.follow.close()
