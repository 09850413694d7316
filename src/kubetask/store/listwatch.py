"""List, then watch, and list again when etcd compacted the history in between: the one way
kubetask follows keys (the leader's views, a worker's assignments, a wait on tasks)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable

from kubetask.store.client import Store
from kubetask.store.ops import Get, RangeResult
from kubetask.store.watch import Event, Watch

Read = Callable[[], Awaitable[RangeResult]]


def revision_only(store: Store) -> Read:
    """A `read` that lists nothing: the result is empty, at the current revision (for a
    caller that reads lazily, e.g. a buffer it empties in on_list)."""

    async def read() -> RangeResult:
        return RangeResult([], 0, False, await store.revision())

    return read


class ListWatch:
    """Follows the keys under `prefix`: lists them at one revision, then watches from that
    revision + 1; when etcd compacted that history the watch cannot resume, so it lists
    again and watches on from the new listing.

    The contract:
    - A listing is the whole current state: every key and value under the prefix (only the
      keys with `keys_only`), or whatever a `read` of the caller's returns, at one revision
      (`result.revision`, at or before every key read). `on_list(result)` gets it, first
      and after every compaction, and must *replace* what the caller built from earlier
      listings and events: a key missing from it vanished meanwhile.
    - Event batches (one etcd revision each, in order, all after the latest listing) come by
      iteration (`async for batch in follow`) or through `run(on_events)`. on_list runs in
      the iterating task, between batches: never concurrently with the caller's handling.
      An exception from either ends the iteration.
    - `await list()` does the first listing now (when other work must see that state
      before it starts); otherwise iteration lists first. With `after_revision` the caller
      knows the state at that revision already: no first listing.
    - `close()`, from any task, ends the iteration; so does cancelling the iterating task.
    """

    def __init__(self, store: Store, prefix: str, *,
                 on_list: Callable[[RangeResult], None] | None = None, read: Read | None = None,
                 keys_only: bool = False, after_revision: int | None = None,
                 puts_only: bool = False, deletes_only: bool = False) -> None:
        if after_revision is not None and after_revision < 0:
            raise ValueError(f"after_revision must be 0 or more (got {after_revision})")
        self._store = store
        self.prefix = prefix
        self._on_list = on_list
        self._read = read or self._read_prefix
        self._keys_only = keys_only
        self.relists = 0  # listings after a compaction
        self._listed = after_revision is not None
        start = 0 if after_revision is None else after_revision + 1
        self._watch = Watch(store, prefix, start_revision=start, puts_only=puts_only,
                            deletes_only=deletes_only, relist=self._list)

    @property
    def next_revision(self) -> int:
        """The revision the watch goes on from (0: not listed yet)."""
        return self._watch.next_revision

    @property
    def open(self) -> bool:
        """etcd confirmed the watch and its stream has not failed since."""
        return self._watch.open

    async def list(self) -> RangeResult:
        """List now (the first listing, before iterating); the watch starts after it."""
        result = await self._listing()
        self._watch.next_revision = result.revision + 1
        return result

    def __aiter__(self) -> AsyncIterator[builtins.list[Event]]:
        return self._watch.__aiter__()

    async def run(self, on_events: Callable[[builtins.list[Event]], None]) -> None:
        """Hand every batch to `on_events` until closed."""
        async for batch in self._watch:
            on_events(batch)

    def close(self) -> None:
        self._watch.close()

    async def _read_prefix(self) -> RangeResult:
        return await self._store.range_all(Get(self.prefix, prefix=True,
                                               keys_only=self._keys_only))

    async def _listing(self) -> RangeResult:
        result = await self._read()
        if self._listed:
            self.relists += 1
        self._listed = True
        if self._on_list is not None:
            self._on_list(result)
        return result

    async def _list(self) -> int:
        return (await self._listing()).revision
