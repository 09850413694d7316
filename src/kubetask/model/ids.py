"""Task ids: unique, URL- and key-safe, and sortable by creation time."""

from __future__ import annotations

import os
import threading
import time

from kubetask.errors import ValidationError
from kubetask.model.validation import validate_name

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


TASK_ID_LENGTH = 24
# The shortest prefix a user may give for a task id (as git takes a commit prefix). Ids
# start with the time, so tasks made close together share their first characters: a
# prefix that tells them apart is usually 10 or more long; under 6 it would be a guess.
MIN_TASK_ID_PREFIX = 6
_HEX_DIGITS = frozenset("0123456789abcdef")


def parse_task_id(value: object) -> str:
    """A task id, or a prefix of one, as a user gave it: lowercased, and refused with a
    ValidationError unless it is 6 to 24 hexadecimal characters."""
    text = validate_name("task id", value).lower()
    if not _HEX_DIGITS.issuperset(text):
        raise ValidationError(f"task id {value!r} is not hexadecimal: task ids are "
                              f"{TASK_ID_LENGTH} characters of 0-9 and a-f")
    if len(text) > TASK_ID_LENGTH:
        raise ValidationError(f"task id {value!r} is {len(text)} characters long; task ids "
                              f"are {TASK_ID_LENGTH}")
    if len(text) < MIN_TASK_ID_PREFIX:
        raise ValidationError(f"task id prefix {value!r} is too short: give at least "
                              f"{MIN_TASK_ID_PREFIX} of the id's {TASK_ID_LENGTH} characters")
    return text


def id_floor(epoch_seconds: float) -> str:
    """The lowest id a task created at `epoch_seconds` can have: ids sort by creation time,
    so the ids created in [t0, t1) are those from id_floor(t0) up to id_floor(t1)."""
    return f"{int(epoch_seconds * 1e9):016x}"
