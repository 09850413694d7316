"""What a worker says about itself in etcd: capacity, weight, load, counters."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class WorkerState(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    queue: str
    capacity: int
    weight: int = 1
    state: WorkerState = WorkerState.ACTIVE
    running: int = 0
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    succeeded: int = 0
    failed: int = 0
    hostname: str = ""
    pid: int = 0
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    types: tuple[str, ...] = ()
    finished_last_minute: int = 0  # attempts this worker ended in the last 60 s

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["types"] = list(self.types)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerInfo:
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        values["state"] = WorkerState(data.get("state", "active"))
        values["types"] = tuple(data.get("types", ()))
        return cls(**values)

    @property
    def accepting(self) -> bool:
        return self.state is WorkerState.ACTIVE
