"""Factories for test data."""

from __future__ import annotations

import time
from typing import Any

from kubetask.model import Priority, Task, new_task_id
from kubetask.scheduler.strategies import Candidate


def make_task(**overrides: Any) -> Task:
    values: dict[str, Any] = {"id": new_task_id(), "queue": "default", "type": "echo",
                              "name": "t", "priority": Priority.NORMAL, "created_at": time.time()}
    values.update(overrides)
    return Task(**values)


def make_candidate(worker_id: str, **overrides: Any) -> Candidate:
    values: dict[str, Any] = {"id": worker_id, "lease": 1, "capacity": 10}
    values.update(overrides)
    return Candidate(**values)
