"""Task records as stored bytes (JSON through orjson; never pickle)."""

from __future__ import annotations

from typing import Any

import orjson

from kubetask.model import Task


def dump(task: Task) -> bytes:
    return orjson.dumps(task.to_dict())


def load(data: bytes) -> Task:
    return Task.from_dict(orjson.loads(data))


def dump_json(value: Any) -> bytes:
    return orjson.dumps(value)


def load_json(data: bytes) -> Any:
    return orjson.loads(data) if data else None
