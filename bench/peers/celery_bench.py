"""Celery peer: prefork worker with -c CONCURRENCY, client publishing by task name."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence

import redis
from celery import Celery, group

from bench.peers.workloads import Peer, Session, TaskCall
from bench.peers.workloads import run_submit as _run_submit

QUEUE = "celery"
TASK_NAMES = {"noop": "bench.noop", "nap": "bench.nap", "stamp": "bench.stamp"}


class CeleryClient:
    """Publishes to the worker's tasks by name, as a client without the task code would."""

    def __init__(self, redis_url: str) -> None:
        self.app = Celery("bench_client", broker=redis_url, set_as_current=False)
        self.app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
        self.r = redis.Redis.from_url(redis_url)

    def submit_one(self, call: TaskCall) -> None:
        """app.send_task: one publish per task."""
        self.app.send_task(TASK_NAMES[call.kind], args=call.args())

    def submit_many(self, calls: Sequence[TaskCall]) -> None:
        """A Celery group of all tasks, applied at once."""
        sigs = [self.app.signature(TASK_NAMES[c.kind], args=c.args()) for c in calls]
        group(sigs, app=self.app).apply_async()

    def queued(self) -> int:
        """Messages waiting in the default queue's list."""
        return int(self.r.llen(QUEUE))

    def close(self) -> None:
        """Drop pooled broker connections."""
        self.app.close()
        self.r.close()


def worker_commands(redis_url: str, concurrency: int) -> list[list[str]]:
    """One `celery worker -P prefork -c CONCURRENCY` (CONCURRENCY pool processes)."""
    return [
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.peers.celery_tasks",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "-Q",
            QUEUE,
            "-l",
            "WARNING",
            "-n",
            f"bench-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    ]


PEER = Peer("celery", CeleryClient, worker_commands)


def run_throughput(
    redis_url: str, n_tasks: int, sleep_s: float = 0.0, concurrency: int = 2
) -> dict[str, float]:
    """End-to-end: submit n_tasks as a group and run them on fresh workers."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.throughput(n_tasks, sleep_s)


def run_submit(redis_url: str, n: int, batched: bool) -> dict[str, float]:
    """Submit rate from one client, no workers (group if batched, else send_task)."""
    return _run_submit(PEER, redis_url, n, batched)


def run_latency(redis_url: str, rate: float, n: int, concurrency: int = 2) -> dict[str, float]:
    """Submit->start latency of n tasks paced at rate per second."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.latency(rate, n)
