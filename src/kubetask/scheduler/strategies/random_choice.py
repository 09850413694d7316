"""random: a uniform choice among workers with a free slot (for workers of similar load)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from kubetask.scheduler.strategies.base import Candidate


class RandomStrategy:
    name = "random"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        return self._rng.choice(list(candidates))
