"""Cancels seen before their assignment: remembered for a while, oldest forgotten first.

Every worker watches every cancel of its namespace, so most of these belong to other
workers' attempts; one of them matters when the cancel's watch event comes before the
assignment's (two watches keep no order between them), or when the session starts with
cancels already written. Both the count and the age are bounded: a cancel is forgotten
once `max_age` seconds old, or when `max_count` newer ones arrived after it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Container

MAX_COUNT = 10_000
MAX_AGE = 600.0  # seconds: an assignment comes within moments of its cancel, never this late


class EarlyCancels:
    def __init__(self, *, max_count: int = MAX_COUNT, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_count < 1 or max_age <= 0:
            raise ValueError("max_count must be at least 1 and max_age above 0")
        self.max_count = max_count
        self.max_age = max_age
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # task id -> when seen, oldest first

    def __len__(self) -> int:
        self._evict(self._clock())
        return len(self._seen)

    def __contains__(self, task_id: object) -> bool:
        self._evict(self._clock())
        return task_id in self._seen

    def add(self, task_id: str) -> None:
        """Remember a cancel of `task_id` (seen again: its age starts over)."""
        now = self._clock()
        self._seen[task_id] = now
        self._seen.move_to_end(task_id)
        self._evict(now)

    def retain(self, task_ids: Container[str]) -> None:
        """Forget the cancels not in `task_ids` (a fresh listing of the cancel keys: the
        others were deleted, their tasks ended)."""
        for task_id in [t for t in self._seen if t not in task_ids]:
            del self._seen[task_id]

    def take(self, task_id: str) -> bool:
        """Was `task_id` cancelled? If so, it is forgotten: its attempt carries it now.
        Once per assignment: a dict lookup, the clock read only for a cancel found."""
        seen_at = self._seen.pop(task_id, None)
        return seen_at is not None and seen_at >= self._clock() - self.max_age

    def _evict(self, now: float) -> None:
        seen = self._seen
        horizon = now - self.max_age
        while seen and (len(seen) > self.max_count or next(iter(seen.values())) < horizon):
            seen.popitem(last=False)
