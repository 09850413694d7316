"""The head of each priority level of the pending index, merged in dispatch order.

Strict (the default, as in the seed): urgent before high before normal before low, FIFO
within a level. With aging, a task's effective priority rises one level per
`aging_seconds` it has waited (up to urgent), so a low task waiting long enough is
dispatched ahead of newer high ones: starvation is bounded by 3 x `aging_seconds`.
Within a level, older tasks never have a lower effective priority than newer ones, so
each level stays sorted under aging too and a lazy merge of the levels is exact.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterator

from kubetask.queue import Pending
from kubetask.scheduler.pending_buffer import PendingBuffer
from kubetask.store import Keyspace, KeyValue

LEVELS = (3, 2, 1, 0)


class PendingHeads:
    def __init__(self, keys: Keyspace, aging_seconds: float | None = None) -> None:
        self.keys = keys
        self.aging_seconds = aging_seconds
        self._levels = {priority: PendingBuffer() for priority in LEVELS}

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels.values())

    def add(self, kv: KeyValue) -> None:
        self._levels[self.keys.priority_of_pending(kv.key)].add(kv)

    def discard(self, key: str, mod_revision: int | None = None) -> None:
        self._levels[self.keys.priority_of_pending(key)].discard(key, mod_revision)

    def levels_to_read(self, wanted: int) -> list[int]:
        """Priority levels whose buffer may not supply `wanted` tasks from what it holds."""
        return [p for p in LEVELS if self._levels[p].should_read(wanted, set())]

    def fill(self, priority: int, kvs: list[KeyValue], more: bool) -> None:
        self._levels[priority].fill(kvs, more)

    def effective(self, entry: Pending, now: float) -> int:
        if not self.aging_seconds:
            return int(entry.task.priority)
        waited = max(now - entry.task.created_at, 0.0)
        return min(3, int(entry.task.priority) + int(waited // self.aging_seconds))

    def __iter__(self) -> Iterator[Pending]:
        """Every buffered entry in dispatch order (do not add or discard meanwhile)."""
        if not self.aging_seconds:
            return itertools.chain.from_iterable(iter(self._levels[p]) for p in LEVELS)
        now = time.time()
        return heapq.merge(*(iter(self._levels[p]) for p in LEVELS),
                           key=lambda e: (-self.effective(e, now), e.task.id))
