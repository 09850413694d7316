"""least_load: the worker with the lowest load score from CPU %, memory % and slot use."""

from __future__ import annotations

from collections.abc import Sequence

from kubetask.scheduler.strategies.base import Candidate

# Slot use is what the scheduler knows exactly; CPU and memory arrive with heartbeats.
SLOT_WEIGHT, CPU_WEIGHT, MEMORY_WEIGHT = 0.5, 0.3, 0.2


def load_score(candidate: Candidate) -> float:
    slots = candidate.running / candidate.capacity if candidate.capacity else 1.0
    return (SLOT_WEIGHT * slots + CPU_WEIGHT * candidate.cpu_percent / 100
            + MEMORY_WEIGHT * candidate.memory_percent / 100)


class LeastLoadStrategy:
    name = "least_load"

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        return min(candidates, key=lambda c: (load_score(c), c.running, c.id))
