"""Per-queue statistics: exact counts plus each worker's self-reported figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kubetask.model import QueueConfig, WorkerInfo
from kubetask.queue import QueueCounts


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: QueueCounts
    workers: list[WorkerInfo]
    leader: str | None = None
    config: QueueConfig = field(default_factory=QueueConfig)  # the queue's retry defaults

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        now = time.time()
        return {
            "queue": c.queue,
            "total": c.total,
            "pending": c.pending,
            "pending_by_priority": c.pending_by_priority,
            "running": c.running,
            "succeeded": c.succeeded,
            "failed": c.failed,
            "retrying": c.retrying,
            "dead": c.dead,
            "cancelled": c.cancelled,
            "workers": len(self.workers),
            "leader": self.leader,
            "config": self.config.to_dict(),
            "capacity": sum(w.capacity for w in self.workers),
            "throughput_per_minute": sum(w.finished_last_minute for w in self.workers),
            "worker_stats": [
                {
                    "id": w.id,
                    "state": w.state.value,
                    "running": w.running,
                    "capacity": w.capacity,
                    "weight": w.weight,
                    "cpu_percent": w.cpu_percent,
                    "memory_percent": w.memory_percent,
                    "succeeded": w.succeeded,
                    "failed": w.failed,
                    "finished_last_minute": w.finished_last_minute,
                    "last_heartbeat": w.heartbeat_at,
                    "heartbeat_age_seconds": round(max(now - w.heartbeat_at, 0.0), 1),
                    "hostname": w.hostname,
                    "pid": w.pid,
                }
                for w in sorted(self.workers, key=lambda w: w.id)
            ],
        }
