"""The four load-balancing strategies of the seed, by name."""

from __future__ import annotations

from kubetask.errors import ValidationError
from kubetask.scheduler.strategies.base import Candidate, Strategy
from kubetask.scheduler.strategies.least_load import LeastLoadStrategy
from kubetask.scheduler.strategies.random_choice import RandomStrategy
from kubetask.scheduler.strategies.round_robin import RoundRobinStrategy
from kubetask.scheduler.strategies.weighted import WeightedStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "round_robin": RoundRobinStrategy,
    "random": RandomStrategy,
    "least_load": LeastLoadStrategy,
    "weighted": WeightedStrategy,
}


def make_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValidationError(
            f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}") from None


__all__ = ["STRATEGIES", "Candidate", "LeastLoadStrategy", "RandomStrategy",
           "RoundRobinStrategy", "Strategy", "WeightedStrategy", "make_strategy"]
