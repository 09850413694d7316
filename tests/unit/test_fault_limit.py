"""Which errors a worker lives through: etcd trouble always, a bug until the limit."""

from __future__ import annotations

import pytest

from kubetask.errors import LeaseLost, StoreError, StoreUnavailable
from kubetask.worker.faults import FaultLimit, unexpected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_within_the_window_trips() -> None:
    clock = Clock()
    limit = FaultLimit(limit=3, window=60, clock=clock)
    assert not limit.note()
    clock.now = 30
    assert not limit.note()
    clock.now = 60
    assert limit.note()


def test_errors_spread_wider_than_the_window_do_not_trip() -> None:
    clock = Clock()
    limit = FaultLimit(limit=3, window=60, clock=clock)
    for _ in range(10):
        assert not limit.note()
        clock.now += 31  # never 3 within 60 s


def test_store_errors_are_expected_also_inside_a_group() -> None:
    assert unexpected(StoreUnavailable("away")) is None
    assert unexpected(ExceptionGroup("session", [LeaseLost("gone"), StoreError("x")])) is None


def test_anything_else_is_a_bug_also_beside_store_errors_in_a_group() -> None:
    bug = RuntimeError("bug")
    assert unexpected(bug) is bug
    rest = unexpected(ExceptionGroup("session", [StoreError("x"), bug]))
    assert isinstance(rest, ExceptionGroup) and rest.exceptions == (bug,)


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FaultLimit(limit=0)
