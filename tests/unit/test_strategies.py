"""The four strategies pick among workers with free slots as documented."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kubetask.errors import ValidationError
from kubetask.scheduler.strategies import (
    LeastLoadStrategy,
    RandomStrategy,
    RoundRobinStrategy,
    WeightedStrategy,
    make_strategy,
)
from tests.factories import make_candidate


def test_round_robin_rotates_evenly() -> None:
    workers = [make_candidate(f"w{i}") for i in range(3)]
    strategy = RoundRobinStrategy()
    picks = [strategy.pick(workers).id for _ in range(9)]
    assert picks == ["w0", "w1", "w2"] * 3


def test_round_robin_skips_workers_that_left() -> None:
    strategy = RoundRobinStrategy()
    a, b, c = (make_candidate(x) for x in "abc")
    assert strategy.pick([a, b, c]).id == "a"
    assert strategy.pick([a, c]).id == "c"
    assert strategy.pick([a, c]).id == "a"


def test_weighted_shares_follow_weights_smoothly() -> None:
    workers = [make_candidate("big", weight=3), make_candidate("small", weight=1)]
    strategy = WeightedStrategy()
    picks = [strategy.pick(workers).id for _ in range(400)]
    assert Counter(picks) == {"big": 300, "small": 100}
    # smooth: never more than 3 picks of "big" in a row
    assert "big" * 4 not in "".join("big" if p == "big" else "s" for p in picks)


def test_least_load_prefers_the_idle_worker() -> None:
    busy = make_candidate("busy", cpu_percent=90, memory_percent=50)
    busy.active.update(str(i) for i in range(8))
    idle = make_candidate("idle", cpu_percent=5, memory_percent=5)
    assert LeastLoadStrategy().pick([busy, idle]).id == "idle"


def test_least_load_counts_slots_in_flight() -> None:
    a, b = make_candidate("a"), make_candidate("b")
    strategy = LeastLoadStrategy()
    for i in range(10):
        chosen = strategy.pick([a, b])
        chosen.reserved.add(str(i))
    assert a.running == b.running == 5


def test_random_uses_every_worker() -> None:
    workers = [make_candidate(f"w{i}") for i in range(4)]
    strategy = RandomStrategy(random.Random(7))
    assert {strategy.pick(workers).id for _ in range(200)} == {"w0", "w1", "w2", "w3"}


def test_unknown_strategy_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="round_robin, random, least_load, weighted"):
        make_strategy("fastest")


def test_candidate_free_slots_respect_capacity_and_draining() -> None:
    w = make_candidate("w", capacity=2)
    w.active.add("t1")
    w.reserved.add("t2")
    assert w.free == 0
    w.reserved.clear()
    assert w.free == 1
    w.accepting = False
    assert w.free == 0
