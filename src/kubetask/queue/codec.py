"""Task records as stored bytes (JSON through orjson; never pickle)."""

from __future__ import annotations

from typing import Any

import orjson

from kubetask.errors import CorruptRecord
from kubetask.model import Task


def dump(task: Task) -> bytes:
    return orjson.dumps(task.to_dict())


def load(data: bytes) -> Task:
    """The task stored as `data`; anything else (not JSON, wrong shape) is CorruptRecord.

    Data never becomes code here: JSON only, and only Task's own fields are read."""
    try:
        task = Task.from_dict(orjson.loads(data))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise CorruptRecord(f"a stored task record cannot be decoded: {type(exc).__name__}: "
                            f"{str(exc)[:200]}") from None
    for name in ("id", "queue", "type", "name"):
        if not isinstance(getattr(task, name), str):
            raise CorruptRecord(f"a stored task record's {name} is not a string")
    return task


def dump_json(value: Any) -> bytes:
    return orjson.dumps(value)


def load_json(data: bytes) -> Any:
    return orjson.loads(data) if data else None
