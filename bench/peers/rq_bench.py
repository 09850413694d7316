"""RQ peer: CONCURRENCY `rq worker` processes using SimpleWorker (no fork per job)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue

from bench.peers.workloads import Peer, Session, TaskCall
from bench.peers.workloads import run_submit as _run_submit
from bench.plan import C16, C16_TOTAL

QUEUE = "bench"
FUNC_PATHS = {
    "noop": "bench.peers.rq_tasks.noop",
    "nap": "bench.peers.rq_tasks.nap",
    "stamp": "bench.peers.rq_tasks.stamp",
}


class RQClient:
    """Enqueues jobs by dotted function path on one RQ queue."""

    def __init__(self, redis_url: str) -> None:
        self.r = redis.Redis.from_url(redis_url)
        self.queue = Queue(QUEUE, connection=self.r)

    def submit_one(self, call: TaskCall) -> None:
        """Queue.enqueue: one job per call."""
        self.queue.enqueue(FUNC_PATHS[call.kind], *call.args())

    def submit_many(self, calls: Sequence[TaskCall]) -> None:
        """Queue.enqueue_many: all jobs in one redis pipeline."""
        datas = [Queue.prepare_data(FUNC_PATHS[c.kind], args=c.args()) for c in calls]
        self.queue.enqueue_many(datas)

    def queued(self) -> int:
        """Jobs waiting in the queue."""
        return int(self.queue.count)

    def close(self) -> None:
        """Close the redis connection."""
        self.r.close()


def worker_commands(redis_url: str, concurrency: int) -> list[list[str]]:
    """CONCURRENCY separate `rq worker -w rq.SimpleWorker` processes."""
    return [
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            QUEUE,
            "-u",
            redis_url,
            "-w",
            "rq.SimpleWorker",
            "-n",
            f"bench-{uuid.uuid4().hex[:8]}",
            "--logging_level",
            "WARNING",
            "--disable-job-desc-logging",
        ]
        for _ in range(concurrency)
    ]


PEER = Peer("rq", RQClient, worker_commands)
PEER_C16 = Peer(
    f"rq-{C16}", RQClient, worker_commands, concurrency=C16_TOTAL, throughput_only=True,
    layout=f"{C16_TOTAL} x `rq worker -w rq.SimpleWorker` (an RQ worker runs 1 job at a time)",
)


def run_throughput(
    redis_url: str, n_tasks: int, sleep_s: float = 0.0, concurrency: int = 2
) -> dict[str, Any]:
    """End-to-end: submit n_tasks with enqueue_many and run them on fresh workers."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.throughput(n_tasks, sleep_s)


def run_submit(redis_url: str, n: int, batched: bool) -> dict[str, float]:
    """Submit rate from one client, no workers (enqueue_many if batched, else enqueue)."""
    return _run_submit(PEER, redis_url, n, batched)


def run_latency(redis_url: str, rate: float, n: int, concurrency: int = 2) -> dict[str, float]:
    """Submit->start latency of n tasks paced at rate per second."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.latency(rate, n)
