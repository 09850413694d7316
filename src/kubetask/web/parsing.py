"""HTTP input to SDK values: JSON bodies to TaskSpecs, query strings to list filters.

Everything a request carries is checked here or by the SDK before anything is written;
a wrong type or value is a ValidationError (HTTP 400), never a TypeError (HTTP 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kubetask.client import TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import Priority, QueueConfig, Task, TaskState, validate_name

# The fields of a task in a submit request (the SDK's TaskSpec, minus run_at).
SPEC_FIELDS = ("type", "payload", "queue", "name", "priority", "max_retries", "retry_base",
               "retry_cap", "timeout", "key", "delay")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def parse_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259: no NaN or Infinity), with a message that says what is wrong."""
    if not body.strip():
        raise ValidationError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}") from None


def _optional_str(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}")
    return value


def task_spec(data: Any, *, where: str = "") -> TaskSpec:
    """One task of a submit request; `where` prefixes messages (e.g. `tasks[3]: `)."""
    try:
        if not isinstance(data, dict):
            raise ValidationError("a task must be a JSON object with at least a `type`")
        unknown = sorted(set(data) - set(SPEC_FIELDS))
        if unknown:
            raise ValidationError(f"unknown field(s) {', '.join(unknown)}; a task has "
                                  f"{', '.join(SPEC_FIELDS)}")
        if "type" not in data:
            raise ValidationError("type is required (the executor to run, e.g. \"echo\")")
        options: dict[str, Any] = {"payload": data.get("payload")}
        for name in ("queue", "priority", "max_retries"):
            if data.get(name) is not None:
                options[name] = data[name]
        for name in ("name", "key"):
            options[name] = _optional_str(data, name)
        for name in ("timeout", "delay", "retry_base", "retry_cap"):
            options[name] = data.get(name)
        spec = TaskSpec(data["type"], **options)
        spec.build()  # every check of the SDK, now, to name the task that is wrong
        return spec
    except ValidationError as exc:
        raise ValidationError(f"{where}{exc}") from None


QUEUE_CONFIG_FIELDS = ("max_retries", "retry_base_seconds", "retry_cap_seconds")


def queue_config(data: Any) -> QueueConfig:
    """A queue's defaults, whole (a field left out or null: the workers' flag applies)."""
    if not isinstance(data, dict):
        raise ValidationError("queue settings must be a JSON object with any of "
                              f"{', '.join(QUEUE_CONFIG_FIELDS)}")
    unknown = sorted(set(data) - set(QUEUE_CONFIG_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; queue settings are "
                              f"{', '.join(QUEUE_CONFIG_FIELDS)}")
    return QueueConfig(**{name: data.get(name) for name in QUEUE_CONFIG_FIELDS})


def batch_specs(data: Any, *, limit: int) -> list[TaskSpec]:
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise ValidationError('a batch is a JSON object {"tasks": [task, ...]}')
    extra = sorted(set(data) - {"tasks"})
    if extra:
        raise ValidationError(f"unknown field(s) {', '.join(extra)}; a batch has only `tasks`")
    items = data["tasks"]
    if not items:
        raise ValidationError("tasks is empty; give at least one task")
    if len(items) > limit:
        raise ValidationError(f"a batch holds at most {limit} tasks, got {len(items)}; "
                              "split it into several requests")
    return [task_spec(item, where=f"tasks[{i}]: ") for i, item in enumerate(items)]


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """GET /api/v1/tasks: which tasks, how many, and where the page starts."""

    queue: str | None = None
    state: TaskState | None = None
    type: str | None = None
    priority: Priority | None = None
    limit: int = DEFAULT_LIMIT
    after: str | None = None

    def matches(self, task: Task) -> bool:
        return ((self.queue is None or task.queue == self.queue)
                and (self.state is None or task.state is self.state)
                and (self.type is None or task.type == self.type)
                and (self.priority is None or task.priority == self.priority))


def _state(value: str) -> TaskState:
    try:
        return TaskState(value)
    except ValueError:
        raise ValidationError(f"unknown state {value!r}: use one of "
                              f"{', '.join(s.value for s in TaskState)}") from None


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}, "
                              f"got {value!r}")
    return int(value)


def task_filter(query: Mapping[str, str]) -> TaskFilter:
    known = {"queue", "state", "type", "priority", "limit", "after"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ValidationError(f"unknown query parameter(s) {', '.join(unknown)}; use "
                              f"{', '.join(sorted(known))}")
    # An empty value means "no filter" (what an HTML form sends for "any").
    q = {k: v for k, v in query.items() if v != ""}
    return TaskFilter(
        queue=validate_name("queue", q["queue"]) if "queue" in q else None,
        state=_state(q["state"]) if "state" in q else None,
        type=validate_name("task type", q["type"]) if "type" in q else None,
        priority=Priority.parse(q["priority"]) if "priority" in q else None,
        limit=_limit(q["limit"]) if "limit" in q else DEFAULT_LIMIT,
        after=validate_name("task id", q["after"]) if "after" in q else None,
    )
