"""Celery peer: prefork worker with -c CONCURRENCY (c16: 2 x `-P threads`), client by task name."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery, group

from bench.peers.workloads import Peer, Session, TaskCall
from bench.peers.workloads import run_submit as _run_submit
from bench.plan import C16, C16_PROCESSES, C16_TOTAL

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


def threads_worker_commands(redis_url: str, concurrency: int) -> list[list[str]]:
    """C16_PROCESSES x `celery worker -P threads -c CONCURRENCY/C16_PROCESSES` (c16 variant)."""
    if concurrency % C16_PROCESSES:
        raise ValueError(f"concurrency {concurrency} must split over {C16_PROCESSES} workers")
    per = concurrency // C16_PROCESSES
    out = []
    for _ in range(C16_PROCESSES):
        cmd = worker_commands(redis_url, per)[0]
        cmd[cmd.index("prefork")] = "threads"
        out.append(cmd)
    return out


PEER = Peer("celery", CeleryClient, worker_commands)
PEER_C16 = Peer(
    f"celery-{C16}", CeleryClient, threads_worker_commands, concurrency=C16_TOTAL,
    throughput_only=True,
    layout=f"{C16_PROCESSES} x `celery worker -P threads -c {C16_TOTAL // C16_PROCESSES}`",
)


def run_throughput(
    redis_url: str, n_tasks: int, sleep_s: float = 0.0, concurrency: int = 2
) -> dict[str, Any]:
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
