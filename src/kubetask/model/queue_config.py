"""A queue's own defaults, kept in etcd: retry policy for tasks that do not set their own.

Precedence, field by field: the task's value, else the queue's, else the worker's flags
(`--max-retries`, `--retry-base`, `--retry-cap`). The queue's value is read when an
attempt fails, so a change applies to tasks already queued (as a TaskQueue's spec would).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kubetask.errors import ValidationError
from kubetask.model.backoff import RetryPolicy
from kubetask.model.validation import MAX_BACKOFF_SECONDS as MAX_BACKOFF_SECONDS
from kubetask.model.validation import validate_backoff as validate_backoff
from kubetask.model.validation import validate_max_retries

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    max_retries: int | None = None
    retry_base_seconds: float | None = None
    retry_cap_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_retries is not None:
            validate_max_retries(self.max_retries)
        for name in ("retry_base_seconds", "retry_cap_seconds"):
            object.__setattr__(self, name, validate_backoff(name, getattr(self, name)))
        base, cap = self.retry_base_seconds, self.retry_cap_seconds
        if base is not None and cap is not None and cap < base:
            raise ValidationError(f"retry cap ({cap:g}s) must not be shorter than the retry "
                                  f"base ({base:g}s)")

    def merge(self, **changes: Any) -> QueueConfig:
        """This config with the given fields set (None leaves a field as it is)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValidationError(f"unknown queue setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def applied_to(self, policy: RetryPolicy) -> RetryPolicy:
        """`policy` (the worker's) with this queue's values where it has them."""
        return RetryPolicy(
            max_retries=_or(self.max_retries, policy.max_retries),
            base_seconds=_or(self.retry_base_seconds, policy.base_seconds),
            cap_seconds=_or(self.retry_cap_seconds, policy.cap_seconds))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: value for f in dataclasses.fields(self)
                if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueConfig:
        return cls(max_retries=data.get("max_retries"),
                   retry_base_seconds=data.get("retry_base_seconds"),
                   retry_cap_seconds=data.get("retry_cap_seconds"))


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
