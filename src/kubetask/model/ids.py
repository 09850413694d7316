"""Task ids: unique, URL- and key-safe, and sortable by creation time."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = 0


def new_task_id() -> str:
    """A 24-hex-character id: 16 of nanosecond time (strictly increasing per process) + 8 random.

    Ids from one process sort in creation order, so the pending index, which is keyed by
    id, gives FIFO order within a priority without a shared counter (no hot key).
    """
    global _last
    with _lock:
        now = max(time.time_ns(), _last + 1)
        _last = now
    return f"{now:016x}{os.urandom(4).hex()}"


def id_floor(epoch_seconds: float) -> str:
    """The lowest id a task created at `epoch_seconds` can have: ids sort by creation time,
    so the ids created in [t0, t1) are those from id_floor(t0) up to id_floor(t1)."""
    return f"{int(epoch_seconds * 1e9):016x}"
