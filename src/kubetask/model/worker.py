"""What a worker says about itself in etcd: capacity, weight, load, recent ends, counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# The recent-ends history in a worker's heartbeat: counts per bucket of this many seconds,
# aligned to multiples of it (so workers' histories add up), covering this many buckets.
HISTORY_BUCKET_SECONDS = 5
HISTORY_BUCKETS = 24


class WorkerState(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The worker's heartbeat record: rewritten every heartbeat interval (2 s)."""

    id: str
    queue: str
    capacity: int
    weight: int = 1
    # Tasks the scheduler may assign beyond the free slots now (0 while draining or after a
    # prefetched task waited too long; a record without it reads 0: strict placement).
    prefetch: int = 0
    state: WorkerState = WorkerState.ACTIVE
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    hostname: str = ""
    pid: int = 0
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    types: tuple[str, ...] = ()
    finished_last_minute: int = 0  # attempts this worker ended in the last 60 s
    # Attempts ended per HISTORY_BUCKET_SECONDS, oldest first, from history_start (epoch s).
    history_start: float = 0.0
    succeeded_history: tuple[int, ...] = ()
    failed_attempts_history: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        for name in ("types", "succeeded_history", "failed_attempts_history"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerInfo:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        values["state"] = WorkerState(data.get("state", "active"))
        for name in ("types", "succeeded_history", "failed_attempts_history"):
            values[name] = tuple(data.get(name, ()))
        return cls(**values)

    @property
    def accepting(self) -> bool:
        return self.state is WorkerState.ACTIVE


@dataclass(frozen=True, slots=True)
class Tally:
    """A worker's counts of the attempts it ended, since `since` (the worker's start).

    Written in the same transaction as each batch of its ends (`q/<queue>/tally/<worker>`),
    so at any etcd revision they match the queue's indexes for the tasks it ended."""

    succeeded: int = 0
    failed_attempts: int = 0
    since: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        # Written with every batch of ends: no dataclasses.asdict (several µs).
        return {"succeeded": self.succeeded, "failed_attempts": self.failed_attempts,
                "since": self.since}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        return cls(int(data.get("succeeded", 0)), int(data.get("failed_attempts", 0)),
                   float(data.get("since", 0.0)))

    def plus(self, succeeded: int, failed_attempts: int) -> Tally:
        return Tally(self.succeeded + succeeded, self.failed_attempts + failed_attempts,
                     self.since)
