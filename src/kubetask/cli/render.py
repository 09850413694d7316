"""Text output: tables and one-task views for the terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from kubetask.model import Task


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def age(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = max(time.time() - ts, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def task_rows(tasks: Sequence[Task]) -> str:
    return table(["ID", "NAME", "QUEUE", "TYPE", "PRIORITY", "STATE", "ATTEMPTS", "WORKER", "AGE"],
                 [[t.id, t.name, t.queue, t.type, t.priority.name.lower(), t.state.value,
                   t.attempts, t.worker or "-", age(t.created_at)] for t in tasks])


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
