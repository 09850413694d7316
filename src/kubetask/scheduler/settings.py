"""Scheduler settings, grouped."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    queue: str = "default"
    node_id: str = "scheduler"
    strategy: str = "round_robin"
    session_ttl: int = 5  # leader session lease; a dead leader is replaced within TTL + 1 s
    sweep_interval: float = 2.0  # orphan and missed-event reconciliation
    max_batch: int = 1024  # pending tasks read per dispatch round
    # With a backlog, a round waits up to this long for half the slots to be free, so
    # tasks go out in fewer, larger transactions; with none, a task goes out at once.
    dispatch_linger: float = 0.002
    # Before a task of a type no worker knows goes anywhere (to fail with a clear error).
    unknown_type_grace: float = 2.0
    priority_aging_seconds: float | None = None  # None: strict priority (the seed's)
    retention_seconds: float = 86400.0  # finished tasks are deleted after this; 0: keep
    compact_history_seconds: float = 300.0  # etcd history kept; 0: leave compaction to etcd
    janitor_interval: float = 30.0  # seconds between housekeeping passes
