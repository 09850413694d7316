"""Per-queue statistics from one stats snapshot (one etcd revision), and recent throughput.

What each figure counts, and since when (docs/OBSERVABILITY.md, "What the counts count"):
a queue's tasks by state and its failed attempts come from etcd's indexes and cover the
tasks still stored (retention deletes finished ones); a worker's `running` is its share of
the queue's assignments at the same revision; its `succeeded` and `failed_attempts` are
its tally, written in the transactions that end its attempts, since it started
(`counted_since`); CPU, memory and attempts per minute are as of its last heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubetask.model import HISTORY_BUCKET_SECONDS, QueueConfig, Tally, WorkerInfo
from kubetask.queue import QueueCounts, QueueSnapshot


@dataclass(frozen=True, slots=True)
class WorkerStats:
    info: WorkerInfo  # its heartbeat record
    running: int  # tasks assigned to or running on it, from the queue's assignments
    tally: Tally  # succeeded and failed attempts since it started

    def to_dict(self, now: float) -> dict[str, Any]:
        w = self.info
        return {
            "id": w.id,
            "state": w.state.value,
            "running": self.running,
            "capacity": w.capacity,
            # Of those, in its slots (it never runs more) and prefetched beyond them,
            # waiting for a slot; and the prefetch it takes now (0 while paused, draining).
            "busy_slots": min(self.running, w.capacity),
            "prefetched": max(self.running - w.capacity, 0),
            "prefetch": w.prefetch,
            "weight": w.weight,
            "cpu_percent": w.cpu_percent,
            "memory_percent": w.memory_percent,
            "succeeded": self.tally.succeeded,
            "failed_attempts": self.tally.failed_attempts,
            "counted_since": self.tally.since or w.started_at,
            "finished_last_minute": w.finished_last_minute,
            "last_heartbeat": w.heartbeat_at,
            "heartbeat_age_seconds": round(max(now - w.heartbeat_at, 0.0), 1),
            "hostname": w.hostname,
            "pid": w.pid,
        }


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: QueueCounts
    workers: list[WorkerStats]
    leader: str | None = None
    config: QueueConfig = field(default_factory=QueueConfig)  # the queue's retry defaults
    orphaned: int = 0  # active tasks of workers that are gone (handed back by the leader)

    @classmethod
    def of(cls, snapshot: QueueSnapshot) -> QueueStats:
        workers = [WorkerStats(w, snapshot.active.get(w.id, 0),
                               snapshot.tallies.get(w.id, Tally(since=w.started_at)))
                   for w in sorted(snapshot.workers, key=lambda w: w.id)]
        leader = snapshot.leader.decode() if snapshot.leader else None
        return cls(snapshot.counts, workers, leader, snapshot.config, snapshot.orphaned)

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        now = time.time()
        return {
            "queue": c.queue,
            "revision": c.revision,
            "total": c.total,
            "pending": c.pending,
            "pending_by_priority": c.pending_by_priority,
            "running": c.running,
            "orphaned": self.orphaned,
            "succeeded": c.succeeded,
            "retrying": c.retrying,
            "dead": c.dead,
            "cancelled": c.cancelled,
            "failed_attempts": c.failed_attempts,
            "workers": len(self.workers),
            "leader": self.leader,
            "config": self.config.to_dict(),
            "capacity": sum(w.info.capacity for w in self.workers),
            "throughput_per_minute": sum(w.info.finished_last_minute for w in self.workers),
            "worker_stats": [w.to_dict(now) for w in self.workers],
        }


@dataclass(frozen=True, slots=True)
class Throughput:
    """Tasks submitted, succeeded and failed attempts per bucket over the last minutes:
    submitted from the task ids (time-ordered) still stored, the others from the workers'
    heartbeats (workers that left are missing)."""

    start: float  # epoch seconds: the start of the first bucket
    bucket_seconds: int
    submitted: list[int]
    succeeded: list[int]
    failed_attempts: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "bucket_seconds": self.bucket_seconds,
                "submitted": self.submitted, "succeeded": self.succeeded,
                "failed_attempts": self.failed_attempts}


def history_window(stats: Sequence[QueueStats], now: float, buckets: int) -> tuple[int, int]:
    """(first, end) bucket numbers of the complete buckets to show (end excluded): up to
    the bucket of the oldest recent heartbeat, which was still filling when it was sent,
    and no further back than every worker's `buckets` reach."""
    end = int(now // HISTORY_BUCKET_SECONDS)  # the bucket still filling: left out
    for s in stats:
        for w in s.workers:
            if now - w.info.heartbeat_at < 10:
                end = min(end, int(w.info.heartbeat_at // HISTORY_BUCKET_SECONDS))
    return end - buckets + 1, end


def throughput_of(stats: Sequence[QueueStats], window: tuple[int, int],
                  submitted: list[int]) -> Throughput:
    first, end = window
    succeeded = [0] * (end - first)
    failed = [0] * (end - first)
    for s in stats:
        for w in s.workers:
            base = round(w.info.history_start / HISTORY_BUCKET_SECONDS)
            for j, (ok, bad) in enumerate(zip(w.info.succeeded_history,
                                              w.info.failed_attempts_history, strict=False)):
                if first <= base + j < end:
                    succeeded[base + j - first] += ok
                    failed[base + j - first] += bad
    return Throughput(float(first * HISTORY_BUCKET_SECONDS), HISTORY_BUCKET_SECONDS, submitted,
                      succeeded, failed)
