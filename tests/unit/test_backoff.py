"""Backoff: a task's retry delays and a loop's reconnect delays, exponential, capped, jittered
but never below half."""

from __future__ import annotations

import random

import pytest

from kubetask.model import Backoff, RetryPolicy


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


class FixedDraw(random.Random):
    """A random source that always draws `value` (1.0: the top of each jitter range)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_reconnect_backoff_doubles_up_to_its_cap_each_jittered() -> None:
    top = Backoff(first=0.1, cap=1.0, rng=FixedDraw(1.0))
    assert [round(top.next(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    bottom = Backoff(first=0.1, cap=1.0, rng=FixedDraw(0.0))
    assert [round(bottom.next(), 3) for _ in range(5)] == [0.05, 0.1, 0.2, 0.4, 0.5]


def test_reconnect_backoff_starts_over_after_reset() -> None:
    backoff = Backoff(first=0.1, cap=5.0, rng=FixedDraw(1.0))
    for _ in range(4):
        backoff.next()
    backoff.reset()
    assert (backoff.failures, backoff.next()) == (0, 0.1)


def test_reconnect_backoff_starts_over_when_the_last_failure_is_old() -> None:
    now = [100.0]
    backoff = Backoff(first=1.0, cap=8.0, reset_after=60.0, rng=FixedDraw(1.0),
                      clock=lambda: now[0])
    assert [backoff.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    now[0] += 59.0
    assert backoff.next() == 8.0  # within reset_after of the previous failure
    now[0] += 60.0
    assert backoff.next() == 1.0


def test_reconnect_backoff_of_many_clients_spreads_out() -> None:
    values = {round(Backoff(first=4.0, rng=random.Random(seed)).next(), 3) for seed in range(20)}
    assert len(values) > 10 and all(2.0 <= v <= 4.0 for v in values)


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_reconnect_backoff_refuses_bounds_that_make_no_sense(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="first"):
        Backoff(first=first, cap=cap)
