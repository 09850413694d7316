"""What a failed attempt leaves behind: the task retries after a backoff, or it is dead.

The policy is resolved field by field: the task's own value, else its queue's, else the
worker's (`--max-retries`, `--retry-base`, `--retry-cap`). Pure: the caller reads the
queue's settings and the clock.
"""

from __future__ import annotations

import random
from typing import NamedTuple, TypeVar

from kubetask.model.attempt import Outcome, OutcomeKind
from kubetask.model.backoff import RetryPolicy
from kubetask.model.queue_config import QueueConfig
from kubetask.model.task import Task, TaskState

T = TypeVar("T")


class RetryDecision(NamedTuple):
    state: TaskState  # RETRYING or DEAD
    run_at: float | None = None  # RETRYING: when the task is due again


def resolve_policy(task: Task, queue: QueueConfig, worker: RetryPolicy) -> RetryPolicy:
    """The retry policy of `task`: its own fields, else its queue's, else the worker's."""
    policy = queue.applied_to(worker)
    return RetryPolicy(max_retries=_or(task.max_retries, policy.max_retries),
                       base_seconds=_or(task.retry_base_seconds, policy.base_seconds),
                       cap_seconds=_or(task.retry_cap_seconds, policy.cap_seconds))


def decide_retry(task: Task, outcome: Outcome, policy: RetryPolicy, now: float,
                 rng: random.Random | None = None) -> RetryDecision:
    """After a failed attempt (`task` as assigned, its `attempts` counting this one):
    retrying, due after the policy's backoff, or dead once the retries are used up. A
    task no worker of its queue can run (no executor) is dead at once: retrying would
    not help."""
    if not outcome.failed:
        raise ValueError(f"a {outcome.kind.value} attempt is not retried")
    if outcome.kind is OutcomeKind.NO_EXECUTOR or task.attempts > policy.max_retries:
        return RetryDecision(TaskState.DEAD)
    return RetryDecision(TaskState.RETRYING, now + policy.delay(task.attempts, rng))


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
