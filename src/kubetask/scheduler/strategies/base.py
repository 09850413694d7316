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
    prefetch: int = 0  # tasks it may hold beyond its capacity now (its record says)
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    accepting: bool = True  # its record says active and no drain request stands
    reported_accepting: bool = True  # what its own record says
    types: frozenset[str] = frozenset()  # task types it has executors for
    active: set[str] = field(default_factory=set)  # ids of the tasks it holds
    reserved: set[str] = field(default_factory=set)  # placed, commit in flight

    @property
    def running(self) -> int:
        """Tasks it holds: running, and prefetched (assigned, waiting for a slot)."""
        return len(self.active) + len(self.reserved)

    @property
    def free(self) -> int:
        """Free slots: tasks it would start at once."""
        return max(self.capacity - self.running, 0) if self.accepting else 0

    @property
    def room(self) -> int:
        """Tasks it may still take, prefetch included."""
        return max(self.capacity + self.prefetch - self.running, 0) if self.accepting else 0


class Strategy(Protocol):
    """Picks one worker from candidates that all have a free slot, or all prefetch room
    (never empty)."""

    name: str

    def pick(self, candidates: Sequence[Candidate]) -> Candidate: ...
