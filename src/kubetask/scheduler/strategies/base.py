"""What a strategy sees of a worker, and the interface every strategy implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Candidate:
    """A worker as the scheduler tracks it: capacity, load, and the tasks it holds."""

    id: str
    lease: int
    capacity: int
    weight: int = 1
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    accepting: bool = True  # its record says active and no drain request stands
    reported_accepting: bool = True  # what its own record says
    types: frozenset[str] = frozenset()  # task types it has executors for
    active: set[str] = field(default_factory=set)  # ids of the tasks it holds
    reserved: set[str] = field(default_factory=set)  # placed, commit in flight

    @property
    def running(self) -> int:
        return len(self.active) + len(self.reserved)

    @property
    def free(self) -> int:
        return max(self.capacity - self.running, 0) if self.accepting else 0


class Strategy(Protocol):
    """Picks one worker from candidates that all have a free slot (never empty)."""

    name: str

    def pick(self, candidates: Sequence[Candidate]) -> Candidate: ...
