"""What a user asks for when submitting: a TaskSpec, checked and turned into a Task."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubetask.errors import ValidationError
from kubetask.model import Priority, Task, new_task_id, validate_name, validate_payload
from kubetask.model.validation import (
    MAX_DELAY_SECONDS,
    validate_backoff,
    validate_delay,
    validate_max_retries,
    validate_seconds,
    validate_timeout,
)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    type: str
    payload: Any = None
    queue: str = "default"
    name: str | None = None
    priority: int | str = Priority.NORMAL
    max_retries: int | None = None  # None: the queue's default (kubetask queue set), else 3
    timeout: float | None = None
    key: str | None = None  # idempotency key
    run_at: float | None = None  # epoch seconds; None: now
    delay: float | None = None  # seconds from now (alternative to run_at)
    retry_base: float | None = None  # backoff before the first retry; None: the queue's
    retry_cap: float | None = None  # longest backoff; None: the queue's

    def build(self, now: float | None = None) -> Task:
        """Validate everything, then make the Task (nothing is written yet)."""
        now = time.time() if now is None else now
        queue = validate_name("queue", self.queue)
        type_ = validate_name("task type", self.type)
        name = validate_name("task", self.name if self.name is not None else type_)
        key = validate_name("idempotency key", self.key) if self.key is not None else None
        run_at = validate_seconds("run_at", self.run_at, low=0, high=now + MAX_DELAY_SECONDS)
        delay = validate_delay(self.delay)
        if delay is not None:
            if run_at is not None:
                raise ValidationError("give either run_at or delay, not both")
            run_at = now + delay
        if run_at is not None and run_at <= now:
            run_at = None
        retry_base = validate_backoff("retry_base", self.retry_base)
        retry_cap = validate_backoff("retry_cap", self.retry_cap)
        if retry_base is not None and retry_cap is not None and retry_cap < retry_base:
            raise ValidationError(f"retry cap ({retry_cap:g}s) must not be shorter than the "
                                  f"retry base ({retry_base:g}s)")  # as `kubetask queue set`
        return Task(
            id=new_task_id(), queue=queue, type=type_, name=name,
            payload=validate_payload(self.payload), priority=Priority.parse(self.priority),
            max_retries=(None if self.max_retries is None
                         else validate_max_retries(self.max_retries)),
            timeout_seconds=validate_timeout(self.timeout), idempotency_key=key,
            retry_base_seconds=retry_base, retry_cap_seconds=retry_cap,
            created_at=now, run_at=run_at)

