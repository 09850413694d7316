"""Cancels seen before their assignment: bounded in count and age, oldest forgotten first."""

from __future__ import annotations

from kubetask.worker.cancels import EarlyCancels


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cancel_is_taken_once() -> None:
    cancels = EarlyCancels(clock=Clock())
    cancels.add("a")
    assert "a" in cancels
    assert cancels.take("a")
    assert not cancels.take("a") and "a" not in cancels
    assert not cancels.take("never-seen")


def test_a_cancel_is_forgotten_once_older_than_max_age() -> None:
    clock = Clock()
    cancels = EarlyCancels(max_age=10, clock=clock)
    cancels.add("old")
    clock.now += 6
    cancels.add("young")
    clock.now += 5  # "old" is 11 s old, "young" 5 s
    assert "old" not in cancels and "young" in cancels
    assert len(cancels) == 1
    clock.now += 100
    assert not cancels.take("young")  # too old when taken, even before any eviction ran


def test_past_max_count_the_oldest_are_forgotten_first() -> None:
    clock = Clock()
    cancels = EarlyCancels(max_count=3, clock=clock)
    for name in "abcde":
        cancels.add(name)
        clock.now += 1
    assert len(cancels) == 3
    assert [name in cancels for name in "abcde"] == [False, False, True, True, True]


def test_seen_again_a_cancel_is_young_again() -> None:
    clock = Clock()
    cancels = EarlyCancels(max_count=2, max_age=10, clock=clock)
    cancels.add("a")
    cancels.add("b")
    clock.now += 8
    cancels.add("a")  # "b" is now the oldest
    cancels.add("c")
    assert "b" not in cancels and "a" in cancels and "c" in cancels
    clock.now += 5  # "a" seen 5 s ago: kept
    assert cancels.take("a")


def test_a_fresh_listing_forgets_the_cancels_no_longer_written() -> None:
    cancels = EarlyCancels(clock=Clock())
    for task_id in ("gone", "x", "y"):
        cancels.add(task_id)
    cancels.retain({"x", "y", "z"})
    assert "gone" not in cancels and "x" in cancels and "y" in cancels
    assert "z" not in cancels  # retain forgets; what is new arrives as events
    assert len(cancels) == 2
