"""A worker's recent ends per time bucket (succeeded, failed attempts), for its heartbeat:
the dashboard's throughput chart starts from these instead of from nothing."""

from __future__ import annotations

from kubetask.model import HISTORY_BUCKET_SECONDS, HISTORY_BUCKETS


class EndHistory:
    """Counts per HISTORY_BUCKET_SECONDS of wall clock (aligned, so workers' add up), kept
    for the last HISTORY_BUCKETS buckets. One dict update per end."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[int]] = {}  # bucket number -> [succeeded, failed attempts]

    def note(self, at: float, *, succeeded: bool, failed: bool) -> None:
        if not (succeeded or failed):
            return
        counts = self._buckets.get(bucket := int(at // HISTORY_BUCKET_SECONDS))
        if counts is None:
            counts = self._buckets[bucket] = [0, 0]
            self._forget_before(bucket - HISTORY_BUCKETS)
        counts[0 if succeeded else 1] += 1

    def _forget_before(self, bucket: int) -> None:
        for old in [b for b in self._buckets if b < bucket]:
            del self._buckets[old]

    def window(self, now: float) -> tuple[float, tuple[int, ...], tuple[int, ...]]:
        """(start of the oldest bucket, succeeded per bucket, failed attempts per bucket):
        HISTORY_BUCKETS buckets, the last one the bucket of `now` (still filling)."""
        last = int(now // HISTORY_BUCKET_SECONDS)
        first = last - HISTORY_BUCKETS + 1
        self._forget_before(first)
        rows = [self._buckets.get(b, (0, 0)) for b in range(first, last + 1)]
        return (float(first * HISTORY_BUCKET_SECONDS), tuple(r[0] for r in rows),
                tuple(r[1] for r in rows))
