"""weighted: smooth weighted round robin; each worker's share is proportional to --weight."""

from __future__ import annotations

from collections.abc import Sequence

from kubetask.scheduler.strategies.base import Candidate


class WeightedStrategy:
    """nginx's smooth weighted round robin: spreads picks evenly, not in bursts."""

    name = "weighted"

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        total = 0
        best: Candidate | None = None
        for c in candidates:
            weight = max(c.weight, 1)
            total += weight
            self._current[c.id] = self._current.get(c.id, 0) + weight
            if best is None or self._current[c.id] > self._current[best.id]:
                best = c
        assert best is not None, "pick() needs at least one candidate"
        self._current[best.id] -= total
        return best
