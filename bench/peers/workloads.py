"""The three workloads (throughput, submit, latency), written once for every peer."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import redis

from bench.costs import CpuMeter
from bench.peers import sink
from bench.peers.procs import WorkerGroup, start_workers
from bench.stats import latency_summary

TaskKind = Literal["noop", "nap", "stamp"]


@dataclass(frozen=True)
class TaskCall:
    """One task invocation, independent of the queue system that carries it."""

    kind: TaskKind
    run_id: str
    target: int
    idx: int = 0
    sleep_s: float = 0.0

    def args(self) -> tuple[str, int] | tuple[str, int, float] | tuple[str, int, int]:
        """Positional args of the task function: (run_id, target[, sleep_s | idx])."""
        if self.kind == "nap":
            return (self.run_id, self.target, self.sleep_s)
        if self.kind == "stamp":
            return (self.run_id, self.target, self.idx)
        return (self.run_id, self.target)


class PeerClient(Protocol):
    """Submitting side of a queue system."""

    def submit_one(self, call: TaskCall) -> None:
        """Enqueue one task with the system's ordinary one-by-one API."""

    def submit_many(self, calls: Sequence[TaskCall]) -> None:
        """Enqueue all tasks with the system's batch API."""

    def queued(self) -> int:
        """Number of messages waiting in the broker."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class Peer:
    """A queue system: how to make a client and the commands that start its workers."""

    name: str
    client: Callable[[str], PeerClient]
    worker_commands: Callable[[str, int], list[list[str]]]
    concurrency: int | None = None  # fixed total concurrency (c16 variants); None: --concurrency
    throughput_only: bool = False  # only e2e_noop and e2e_sleep (no latency, no submit)
    layout: str = ""  # the worker processes, for the report (variants)


def new_run_id(label: str) -> str:
    """Unique id for one measured run, readable in redis keys."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def _calls(kind: TaskKind, n: int, run_id: str, sleep_s: float = 0.0) -> list[TaskCall]:
    """n task calls of one kind belonging to one run."""
    return [TaskCall(kind, run_id, n, idx=i, sleep_s=sleep_s) for i in range(n)]


def run_submit(peer: Peer, redis_url: str, n: int, batched: bool) -> dict[str, float]:
    """Time submitting n no-op tasks from one client with no workers running."""
    client = peer.client(redis_url)
    try:
        before = client.queued()
        calls = _calls("noop", n, new_run_id("submit"))
        t0 = time.perf_counter()
        if batched:
            client.submit_many(calls)
        else:
            for call in calls:
                client.submit_one(call)
        seconds = time.perf_counter() - t0
        landed = client.queued() - before
    finally:
        client.close()
    if landed != n:
        raise RuntimeError(f"{peer.name}: submitted {n} tasks but the broker holds {landed}")
    return {"seconds": seconds, "tasks_per_s": n / seconds, "n": n}


class Session:
    """A peer's workers running against one redis server, with a client and a sink reader."""

    def __init__(self, peer: Peer, redis_url: str, concurrency: int) -> None:
        self.peer = peer
        self.redis_url = redis_url
        self.concurrency = concurrency
        self.r = redis.Redis.from_url(redis_url)
        self.client: PeerClient | None = None
        self.workers: WorkerGroup | None = None
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{peer.name}-"))

    def start(self, ready_deadline_s: float = 60.0) -> None:
        """Start the workers and wait until they have run a warm-up batch."""
        env = {sink.BROKER_ENV: self.redis_url, sink.SINK_ENV: self.redis_url}
        cmds = self.peer.worker_commands(self.redis_url, self.concurrency)
        self.workers = start_workers(cmds, env, self.log_dir)
        self.client = self.peer.client(self.redis_url)
        try:
            self._run_batch("noop", 4 * self.concurrency, 0.0, ready_deadline_s)
        except Exception as exc:
            tails = self.workers.log_tails()
            self.stop(keep_logs=True)
            raise RuntimeError(f"{self.peer.name} workers not ready: {exc}\n{tails}") from exc

    def stop(self, keep_logs: bool = False) -> None:
        """Stop the workers by PID, close the client, drop the worker logs unless kept."""
        if self.workers is not None:
            self.workers.stop()
            self.workers = None
        if self.client is not None:
            self.client.close()
            self.client = None
        self.r.close()
        if not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(keep_logs=exc is not None)

    def _check(self) -> None:
        """Fail fast if a worker process died."""
        if self.workers is not None:
            self.workers.check_alive()

    def _client(self) -> PeerClient:
        """The started client, or a clear error if start() was not called."""
        if self.client is None:
            raise RuntimeError("Session.start() was not called")
        return self.client

    def _run_batch(
        self, kind: TaskKind, n: int, sleep_s: float, deadline_s: float
    ) -> tuple[float, float, float]:
        """Batch-submit n tasks and wait for all; return (t0, submitted, finished) wall times."""
        run_id = new_run_id(kind)
        calls = _calls(kind, n, run_id, sleep_s)
        t0 = time.time()
        self._client().submit_many(calls)
        submitted = time.time()
        finished = sink.wait_finished(self.r, run_id, n, deadline_s, self._check)
        extra = sink.count_done(self.r, run_id) - n
        if extra:
            raise RuntimeError(f"{self.peer.name}: {extra} tasks of run {run_id} ran twice")
        return t0, submitted, finished

    def _cpu_meter(self) -> CpuMeter:
        """CPU of redis-server, each worker command with its children, and this client."""
        if self.workers is None:
            raise RuntimeError("Session.start() was not called")
        pids = {"redis": int(self.r.info("server")["process_id"])}
        pids |= {f"worker-{i}": pid for i, pid in enumerate(self.workers.pids)}
        return CpuMeter(pids, children=True)

    def throughput(
        self, n: int, sleep_s: float = 0.0, deadline_s: float | None = None
    ) -> dict[str, Any]:
        """Submit n tasks (batched) and time until the last one finished; CPU ms per task."""
        if deadline_s is None:
            deadline_s = 60.0 + n * (0.01 + 3.0 * sleep_s / self.concurrency)
        kind: TaskKind = "nap" if sleep_s > 0 else "noop"
        meter = self._cpu_meter()
        meter.start()
        t0, submitted, finished = self._run_batch(kind, n, sleep_s, deadline_s)
        cpu = meter.per_task_ms(n)
        seconds = finished - t0
        return {
            "seconds": seconds,
            "tasks_per_s": n / seconds,
            "submit_seconds": submitted - t0,
            "n": n,
            "cpu_ms_per_task": cpu,
        }

    def latency(self, rate: float, n: int, drain_s: float = 30.0) -> dict[str, float]:
        """Submit n tasks one by one at a paced rate; submit->start latency percentiles."""
        client = self._client()
        run_id = new_run_id(f"lat{rate:g}")
        submitted: list[float] = []
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            submitted.append(time.time())
            client.submit_one(TaskCall("stamp", run_id, n, idx=i))
        sink.wait_finished(self.r, run_id, n, drain_s, self._check)
        starts = sink.read_starts(self.r, run_id)
        if len(starts) != n:
            raise RuntimeError(f"{self.peer.name}: {len(starts)}/{n} start stamps recorded")
        lat_ms = [(starts[i] - submitted[i]) * 1000.0 for i in range(n)]
        return latency_summary(lat_ms, submitted)
