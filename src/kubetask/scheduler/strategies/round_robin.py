"""round_robin: fair rotation over the workers with a free slot, in a stable order."""

from __future__ import annotations

from collections.abc import Sequence

from kubetask.scheduler.strategies.base import Candidate


class RoundRobinStrategy:
    name = "round_robin"

    def __init__(self) -> None:
        self._last = ""

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        ordered = sorted(candidates, key=lambda c: c.id)
        chosen = next((c for c in ordered if c.id > self._last), ordered[0])
        self._last = chosen.id
        return chosen
