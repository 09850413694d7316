"""Dramatiq peer: CONCURRENCY processes x 1 thread (c16: 2 x 8 threads), client via actors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.peers.dramatiq_tasks import QUEUE, declare
from bench.peers.workloads import Peer, Session, TaskCall
from bench.peers.workloads import run_submit as _run_submit
from bench.plan import C16, C16_PROCESSES, C16_TOTAL


class DramatiqClient:
    """Sends messages through actors declared on a client-side Redis broker."""

    def __init__(self, redis_url: str) -> None:
        self.broker = RedisBroker(url=redis_url)  # type: ignore[no-untyped-call]
        self.actors = declare(self.broker)

    def submit_one(self, call: TaskCall) -> None:
        """actor.send: one broker.enqueue per task."""
        self.actors[call.kind].send(*call.args())

    def submit_many(self, calls: Sequence[TaskCall]) -> None:
        """dramatiq.group(...).run(): Dramatiq's batch form (enqueues each message)."""
        msgs = [self.actors[c.kind].message(*c.args()) for c in calls]
        dramatiq.group(msgs, broker=self.broker).run()  # type: ignore[no-untyped-call]

    def queued(self) -> int:
        """Messages stored for the bench queue."""
        return int(self.broker.client.hlen(f"{self.broker.namespace}:{QUEUE}.msgs"))

    def close(self) -> None:
        """Close the broker's connections."""
        self.broker.close()


def worker_commands(redis_url: str, concurrency: int) -> list[list[str]]:
    """One `dramatiq` master with CONCURRENCY worker processes of 1 thread each."""
    return [
        [
            sys.executable,
            "-m",
            "dramatiq",
            "bench.peers.dramatiq_tasks:setup_broker",
            "--processes",
            str(concurrency),
            "--threads",
            "1",
            "--queues",
            QUEUE,
            "--worker-shutdown-timeout",
            "5000",
        ]
    ]


def threads_worker_commands(redis_url: str, concurrency: int) -> list[list[str]]:
    """One `dramatiq` master with C16_PROCESSES processes x CONCURRENCY/C16_PROCESSES threads."""
    if concurrency % C16_PROCESSES:
        raise ValueError(f"concurrency {concurrency} must split over {C16_PROCESSES} processes")
    cmd = worker_commands(redis_url, C16_PROCESSES)[0]
    cmd[cmd.index("--threads") + 1] = str(concurrency // C16_PROCESSES)
    return [cmd]


PEER = Peer("dramatiq", DramatiqClient, worker_commands)
PEER_C16 = Peer(
    f"dramatiq-{C16}", DramatiqClient, threads_worker_commands, concurrency=C16_TOTAL,
    throughput_only=True,
    layout=f"`dramatiq --processes {C16_PROCESSES} --threads {C16_TOTAL // C16_PROCESSES}` "
    "(Dramatiq's default threads; its default processes = CPU count)",
)


def run_throughput(
    redis_url: str, n_tasks: int, sleep_s: float = 0.0, concurrency: int = 2
) -> dict[str, Any]:
    """End-to-end: submit n_tasks as a group and run them on fresh workers."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.throughput(n_tasks, sleep_s)


def run_submit(redis_url: str, n: int, batched: bool) -> dict[str, float]:
    """Submit rate from one client, no workers (group if batched, else actor.send)."""
    return _run_submit(PEER, redis_url, n, batched)


def run_latency(redis_url: str, rate: float, n: int, concurrency: int = 2) -> dict[str, float]:
    """Submit->start latency of n tasks paced at rate per second."""
    with Session(PEER, redis_url, concurrency) as s:
        return s.latency(rate, n)
