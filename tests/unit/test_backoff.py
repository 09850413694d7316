"""Retry backoff: exponential, capped, jittered but never below half."""

from __future__ import annotations

import random

import pytest

from kubetask.model import RetryPolicy


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10)
    rng = random.Random(1)
    for retry, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(retry, rng) <= ceiling


def test_backoff_jitter_spreads_values() -> None:
    policy = RetryPolicy(base_seconds=4, cap_seconds=4)
    values = {round(policy.delay(1, random.Random(seed)), 3) for seed in range(20)}
    assert len(values) > 10


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().delay(0)
