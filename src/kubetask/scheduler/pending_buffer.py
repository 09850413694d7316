"""The leader's cached head of the pending index, kept current by the pending watch.

After a range read of the first N pending keys, every pending key that sorts before the
last one read is in the buffer: new ones can only arrive as puts, which the watch delivers
(with the record as value). So most dispatch rounds need no read at all; the buffer is
read again only when it cannot supply the free slots and etcd may hold more.
Entries deleted by others (a cancel) stay until a dispatch of them fails its compare.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from kubetask.queue import Pending
from kubetask.store import KeyValue


class PendingBuffer:
    def __init__(self) -> None:
        self._keys: list[str] = []
        self._entries: dict[str, Pending] = {}
        self._end: str | None = ""  # "" never read; None: holds every pending key

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def exhaustive(self) -> bool:
        """True when the buffer holds every pending key of the queue."""
        return self._end is None

    def fill(self, kvs: list[KeyValue], more: bool) -> None:
        """Replace the content with a range read from the start of the index."""
        self._entries = {kv.key: Pending(kv) for kv in kvs}
        self._keys = [kv.key for kv in kvs]
        self._end = kvs[-1].key if more and kvs else None

    def add(self, kv: KeyValue) -> None:
        """A pending put seen by the watch."""
        if self._end == "" or (self._end is not None and kv.key > self._end):
            return  # beyond what we cover: a later read finds it
        if kv.key not in self._entries:
            bisect.insort(self._keys, kv.key)
        self._entries[kv.key] = Pending(kv)

    def discard(self, key: str, mod_revision: int | None = None) -> None:
        """Remove `key`; with `mod_revision`, only if the entry is still that version (a
        newer put of the same key, e.g. a hand-back, must stay)."""
        entry = self._entries.get(key)
        if entry is None or (mod_revision is not None and entry.kv.mod_revision != mod_revision):
            return
        if self._entries.pop(key, None) is not None:
            index = bisect.bisect_left(self._keys, key)
            if index < len(self._keys) and self._keys[index] == key:
                del self._keys[index]

    def __iter__(self) -> Iterator[Pending]:
        """Entries in dispatch order (do not add or discard while iterating)."""
        return (self._entries[key] for key in self._keys)

    def head(self, limit: int, skip: set[str]) -> list[Pending]:
        """Up to `limit` entries in dispatch order, leaving out keys in `skip`."""
        out: list[Pending] = []
        for key in self._keys:
            if key not in skip:
                out.append(self._entries[key])
                if len(out) == limit:
                    break
        return out

    def should_read(self, wanted: int, skip: set[str]) -> bool:
        """Whether to read from etcd: the buffer cannot supply `wanted` and may be partial."""
        if self._end == "":
            return True
        return not self.exhaustive and len(self._entries) - len(skip) < wanted
