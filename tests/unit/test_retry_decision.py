"""The retry decision after a failed attempt: a pure function of the task, the outcome,
the policies (task, else queue, else worker) and the clock."""

from __future__ import annotations

import random

import pytest

from kubetask.model import (
    Outcome,
    OutcomeKind,
    QueueConfig,
    RetryPolicy,
    TaskState,
    decide_retry,
    resolve_policy,
)
from tests.factories import make_task

WORKER = RetryPolicy(max_retries=3, base_seconds=1.0, cap_seconds=60.0)
FAILED = Outcome(OutcomeKind.FAILED, None, "ValueError: boom")
NOW = 1_000_000.0


def test_the_task_s_values_win_over_the_queue_s_over_the_worker_s_field_by_field() -> None:
    queue = QueueConfig(max_retries=5, retry_base_seconds=2.0)
    assert resolve_policy(make_task(), queue, WORKER) == RetryPolicy(5, 2.0, 60.0)
    task = make_task(max_retries=0, retry_cap_seconds=9.0)
    assert resolve_policy(task, queue, WORKER) == RetryPolicy(0, 2.0, 9.0)
    assert resolve_policy(make_task(), QueueConfig(), WORKER) == WORKER


def test_a_failure_with_retries_left_retries_after_the_backoff() -> None:
    task = make_task(state=TaskState.RUNNING, attempts=2)
    decision = decide_retry(task, FAILED, WORKER, NOW, random.Random(7))
    assert decision.state is TaskState.RETRYING
    assert decision.run_at == NOW + WORKER.delay(2, random.Random(7))
    assert decision.run_at is not None and NOW + 1.0 <= decision.run_at <= NOW + 2.0


def test_a_timeout_is_retried_like_any_failure() -> None:
    timed_out = Outcome(OutcomeKind.TIMED_OUT, None, "timed out after 1s")
    decision = decide_retry(make_task(attempts=1), timed_out, WORKER, NOW)
    assert decision.state is TaskState.RETRYING


def test_the_task_is_dead_once_its_retries_are_used_up() -> None:
    assert decide_retry(make_task(attempts=3), FAILED, WORKER, NOW).state is TaskState.RETRYING
    decision = decide_retry(make_task(attempts=4), FAILED, WORKER, NOW)
    assert decision == (TaskState.DEAD, None)
    no_retries = RetryPolicy(max_retries=0)
    assert decide_retry(make_task(attempts=1), FAILED, no_retries, NOW).state is TaskState.DEAD


def test_no_executor_is_dead_at_once_whatever_the_retries() -> None:
    missing = Outcome(OutcomeKind.NO_EXECUTOR, None, "no executor for task type 'x'")
    assert decide_retry(make_task(attempts=1), missing, WORKER, NOW).state is TaskState.DEAD


@pytest.mark.parametrize("kind", [OutcomeKind.SUCCEEDED, OutcomeKind.CANCELLED])
def test_only_failures_are_decided(kind: OutcomeKind) -> None:
    with pytest.raises(ValueError, match="is not retried"):
        decide_retry(make_task(attempts=1), Outcome(kind), WORKER, NOW)
