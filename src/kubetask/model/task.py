"""The task record, its states, the one transition table, and priorities."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

from kubetask.errors import TaskStateError, ValidationError


class Priority(IntEnum):
    """Four levels, as in the seed: 0 low, 1 normal, 2 high, 3 urgent."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3

    @classmethod
    def parse(cls, value: object) -> Priority:
        """Accept 0-3 (int or digit string) or a level name; anything else is a ValidationError."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, bool):
            raise ValidationError(f"invalid priority {value!r}: use 0-3 or low/normal/high/urgent")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isascii()
                                      and value.strip().isdigit()):  # not "²" or "٣"
            number = int(value)
            if 0 <= number <= 3:
                return cls(number)
        elif isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        raise ValidationError(
            f"invalid priority {value!r}: use 0-3 (0=low, 1=normal, 2=high, 3=urgent) "
            "or one of low, normal, high, urgent"
        )


class TaskState(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    DEAD = "dead"
    CANCELLED = "cancelled"


S = TaskState
TERMINAL_STATES = frozenset({S.SUCCEEDED, S.DEAD, S.CANCELLED})

# Every transition a task may take. PENDING <- ASSIGNED/RUNNING is a hand-back
# (worker lost or draining); DEAD -> PENDING is an explicit `task retry`.
TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    S.PENDING: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.RUNNING, S.PENDING, S.SUCCEEDED, S.RETRYING, S.DEAD, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.RETRYING, S.DEAD, S.PENDING, S.CANCELLED}),
    S.RETRYING: frozenset({S.PENDING, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.DEAD: frozenset({S.PENDING}),
    S.CANCELLED: frozenset(),
}


def check_transition(current: TaskState, target: TaskState) -> None:
    """Raise TaskStateError unless `current -> target` is in the table."""
    if target not in TRANSITIONS[current]:
        raise TaskStateError(f"a {current.value} task cannot become {target.value}")


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC timestamp (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a task on one worker; `token` is the fencing token of its claim.

    `number` is the attempt's place in the task's history, counted from its submission
    (1, 2, 3, ...): it never repeats, across `task retry` of a dead task, hand-backs and
    lost workers alike (see Task.attempt_number)."""

    number: int
    worker: str
    token: int
    started_at: float | None = None
    finished_at: float | None = None
    outcome: str | None = None  # succeeded, failed, lost, cancelled, handed-back
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name in _ATTEMPT_FIELDS
                if (value := getattr(self, name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        values: dict[str, Any] = {name: data.get(name) for name in _ATTEMPT_FIELDS}
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Task:
    """A task: its spec (what to run) and its status (where it is). Values, never mutated."""

    id: str
    queue: str
    type: str
    name: str = "task"
    payload: Any = None
    priority: Priority = Priority.NORMAL
    max_retries: int | None = None  # None: the queue's default, else the worker's (3)
    timeout_seconds: float | None = None
    idempotency_key: str | None = None
    retry_base_seconds: float | None = None  # per-task backoff; None: the worker's default
    retry_cap_seconds: float | None = None
    state: TaskState = TaskState.PENDING
    attempts: int = 0  # tries held against max_retries (reset by a retry); not a numbering
    lost: int = 0
    worker: str | None = None
    result: Any = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    run_at: float | None = None
    # The priority it was last dispatched at, when priority aging had raised it (None: its
    # own): a worker starts its prefetched tasks in the order the leader chose.
    rank: int | None = None
    history: tuple[Attempt, ...] = field(default=())

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def attempt_number(self) -> int:
        """The number of the attempt under way, or of the next one: its place in the
        history. `attempts` is another count: the tries held against max_retries, which
        `task retry` resets and hand-backs and lost workers give back, so it repeats."""
        return len(self.history) + 1

    def evolve(self, **changes: Any) -> Task:
        """A copy with `changes`; a state change must be in the transition table.

        Hot path (several per task): fields are copied straight into a new instance, which
        costs two thirds of dataclasses.replace (no fields() walk, no __init__ call)."""
        target = changes.get("state")
        if target is not None and target != self.state:
            check_transition(self.state, target)
        unknown = changes.keys() - _TASK_FIELD_SET
        if unknown:
            raise TypeError(f"Task has no field(s) {sorted(unknown)}")
        new = object.__new__(Task)
        for name in _TASK_FIELDS:
            _set(new, name, changes[name] if name in changes else _get(self, name))
        return new

    def to_dict(self) -> dict[str, Any]:
        """The stored form (compact: epoch seconds). Hot path: no dataclasses machinery."""
        # Fields at their None/empty default are left out: a record is written several
        # times per task, and etcd keeps every version until compaction.
        data = {name: value for name in _TASK_FIELDS
                if (value := getattr(self, name)) is not None}
        data["priority"] = int(self.priority)
        data["state"] = self.state.value
        if self.history:
            data["history"] = [a.to_dict() for a in self.history]
        else:
            data.pop("history", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        values = {name: data[name] for name in _TASK_FIELDS if name in data}
        values["priority"] = Priority(int(data.get("priority", 1)))
        values["state"] = TaskState(data.get("state", "pending"))
        values["history"] = tuple(Attempt.from_dict(a) for a in data.get("history", ()))
        return cls(**values)

    def to_public(self) -> dict[str, Any]:
        """The user-facing JSON (CLI --json, HTTP API): ISO 8601 UTC timestamps."""
        return {
            "id": self.id,
            "name": self.name,
            "queue": self.queue,
            "type": self.type,
            "priority": int(self.priority),
            "priority_name": self.priority.name.lower(),
            "state": self.state.value,
            "attempts": self.attempts,
            "max_retries": self.max_retries,
            "worker": self.worker,
            "payload": self.payload,
            "result": self.result,
            "error": self.error,
            "timeout_seconds": self.timeout_seconds,
            "retry_base_seconds": self.retry_base_seconds,
            "retry_cap_seconds": self.retry_cap_seconds,
            "idempotency_key": self.idempotency_key,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "run_at": iso(self.run_at),
            "history": [
                {**a.to_dict(), "started_at": iso(a.started_at), "finished_at": iso(a.finished_at)}
                for a in self.history
            ],
        }


_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(Task))
_TASK_FIELD_SET = frozenset(_TASK_FIELDS)
_set = object.__setattr__  # frozen: fields of a fresh copy are set past the dataclass guard
_get = object.__getattribute__
