"""The one-task view of `kubetask task get`, laid out like `kubectl describe`, with human times."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from kubetask.cli.render import table
from kubetask.model import QueueConfig, RetryPolicy, Task, TaskState

NONE = "<none>"
WORKER_DEFAULTS = RetryPolicy()  # what a worker uses when neither task nor queue sets a value
INLINE_JSON = 80  # longer payloads and results are shown indented on the lines below
MAX_JSON_LINES = 40
MAX_ERROR_CELL = 100  # an attempt's error in the history table: its first line, cut here


def utc(ts: float) -> str:
    """Epoch seconds as `2024-05-01 12:00:00 UTC`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A coarse length of time, as kubectl gives ages: 42s, 3m12s, 2h5m, 3d4h."""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def duration(seconds: float) -> str:
    """A run time, precise where it is short: 87ms, 1.25s, 3m12s."""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    return span(seconds)


def when(ts: float | None, now: float) -> str:
    """`2024-05-01 12:00:00 UTC (3m12s ago)`, or `(in 2m0s)` for a time to come."""
    if ts is None:
        return NONE
    ago = now - ts
    relative = f"{span(ago)} ago" if ago >= 0 else f"in {span(-ago)}"
    return f"{utc(ts)} ({relative})"


def task_detail(task: Task, *, namespace: str | None = None,
                queue_config: QueueConfig | None = None, now: float | None = None) -> str:
    """Aligned `Label:  value` lines, then the history of attempts as a table."""
    now = time.time() if now is None else now
    fields = _identity(task, namespace) + _policy(task, queue_config) + _times(task, now) + [
        ("Payload", _json(task.payload)), ("Result", _json(task.result)),
        ("Error", task.error or NONE)]
    width = max(len(label) for label, _ in fields) + 3
    lines = [_field(label, value, width) for label, value in fields]
    rows = _history_rows(task, now)
    if rows:
        lines.append("History:")
        lines += ["  " + line for line in table(
            ["#", "WORKER", "STARTED", "ENDED", "DURATION", "OUTCOME", "ERROR"], rows
        ).splitlines()]
    else:
        lines.append(_field("History", NONE, width))
    return "\n".join(lines)


def _field(label: str, value: str, width: int) -> str:
    # A value of several lines continues under its first line's column.
    head, *rest = value.splitlines() or [""]
    return "\n".join([f"{label + ':':<{width}}{head}".rstrip(), *(" " * width + r for r in rest)])


def _identity(task: Task, namespace: str | None) -> list[tuple[str, str]]:
    fields = [("ID", task.id), ("Name", task.name)]
    if namespace is not None:
        fields.append(("Namespace", namespace))
    fields += [("Queue", task.queue), ("Type", task.type),
               ("Priority", f"{task.priority.name.lower()} ({int(task.priority)})"),
               ("State", task.state.value), ("Worker", task.worker or NONE),
               ("Attempts", _attempt_count(task))]
    return fields


def _attempt_count(task: Task) -> str:
    made = len(task.history) + (task.state in (TaskState.ASSIGNED, TaskState.RUNNING))
    if made == task.attempts:
        return str(made)
    return f"{made} in all, {task.attempts} counting toward max retries"


def _policy(task: Task, queue: QueueConfig | None) -> list[tuple[str, str]]:
    q = queue or QueueConfig()
    return [
        ("Max retries", _setting(task.max_retries, q.max_retries, "--max-retries",
                                 WORKER_DEFAULTS.max_retries, str)),
        ("Retry base", _setting(task.retry_base_seconds, q.retry_base_seconds, "--retry-base",
                                WORKER_DEFAULTS.base_seconds, _secs)),
        ("Retry cap", _setting(task.retry_cap_seconds, q.retry_cap_seconds, "--retry-cap",
                               WORKER_DEFAULTS.cap_seconds, _secs)),
        ("Timeout", _secs(task.timeout_seconds) if task.timeout_seconds else NONE),
        ("Idempotency key", task.idempotency_key or NONE),
    ]


def _setting(own: Any, queue: Any, flag: str, default: Any, show: Callable[[Any], str]) -> str:
    """Where a retry setting comes from: the task, else its queue, else the worker's flag."""
    if own is not None:
        return show(own)
    if queue is not None:
        return f"{show(queue)} (queue default)"
    return f"the worker's {flag} (default {show(default)})"


def _secs(value: float) -> str:
    return f"{value:g}s"


def _times(task: Task, now: float) -> list[tuple[str, str]]:
    fields = [("Created", when(task.created_at or None, now))]
    if task.run_at is not None:
        fields.append(("Run at", when(task.run_at, now)))
    fields += [("Started", when(task.started_at, now)),
               ("Finished", when(task.finished_at, now) if task.terminal else NONE)]
    if task.state is TaskState.RUNNING and task.started_at is not None:
        fields.append(("Run time", f"{duration(now - task.started_at)} so far"))
    elif task.terminal and task.started_at is not None and task.finished_at is not None:
        fields.append(("Run time", duration(task.finished_at - task.started_at)))
    return fields


def _json(value: Any) -> str:
    if value is None:
        return NONE
    text = orjson.dumps(value).decode()
    if len(text) <= INLINE_JSON:
        return text
    lines = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode().splitlines()
    if len(lines) > MAX_JSON_LINES:
        more = len(lines) - MAX_JSON_LINES
        lines = [*lines[:MAX_JSON_LINES], f"... ({more} more lines; --json shows all)"]
    return "\n".join(lines)


def _history_rows(task: Task, now: float) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = []
    for a in task.history:
        took = (duration(a.finished_at - a.started_at)
                if a.started_at is not None and a.finished_at is not None else "-")
        rows.append([str(a.number), a.worker, _stamp(a.started_at), _stamp(a.finished_at),
                     took, a.outcome or "-", _first_line(a.error)])
    if task.state in (TaskState.ASSIGNED, TaskState.RUNNING):
        # The attempt under way: it joins the history when it ends.
        running = task.state is TaskState.RUNNING and task.started_at is not None
        rows.append([str(task.attempt_number), task.worker or "-",
                     _stamp(task.started_at if running else None), "-",
                     f"{duration(now - task.started_at)} so far"
                     if running and task.started_at is not None else "-",
                     task.state.value, ""])
    return rows


def _stamp(ts: float | None) -> str:
    return utc(ts) if ts is not None else "-"


def _first_line(error: str | None) -> str:
    if not error:
        return ""
    lines = error.strip().splitlines() or [""]
    line = lines[0]
    if len(line) > MAX_ERROR_CELL or len(lines) > 1:
        line = line[:MAX_ERROR_CELL - 3] + "..."
    return line
