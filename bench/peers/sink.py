"""Redis keys that benchmark tasks write to, and the harness-side readers of them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import redis

BROKER_ENV = "BENCH_BROKER_URL"
SINK_ENV = "BENCH_SINK_URL"

_client: tuple[int, redis.Redis] | None = None


class BenchTimeout(RuntimeError):
    """A bounded wait in the harness ran past its deadline."""


def env_url(name: str) -> str:
    """Read a redis URL from the environment, failing clearly when the harness did not set it."""
    url = os.environ.get(name)
    if not url:
        raise RuntimeError(f"environment variable {name} is not set (the bench harness sets it)")
    return url


def done_key(run_id: str) -> str:
    """Counter INCR'd once by every finished task of a run."""
    return f"bench:{run_id}:done"


def fin_key(run_id: str) -> str:
    """List that the task completing the run pushes its finish time onto."""
    return f"bench:{run_id}:fin"


def start_key(run_id: str) -> str:
    """Hash idx -> time.time() at task start (latency workload)."""
    return f"bench:{run_id}:start"


def _redis() -> redis.Redis:
    """Per-process sink client (re-created after fork, e.g. in prefork pool children)."""
    global _client
    pid = os.getpid()
    if _client is None or _client[0] != pid:
        url = os.environ.get(SINK_ENV) or env_url(BROKER_ENV)
        _client = (pid, redis.Redis.from_url(url))
    return _client[1]


def mark_started(run_id: str, idx: int, started: float) -> None:
    """Record the start time of task idx (called first thing in the task)."""
    _redis().hset(start_key(run_id), str(idx), repr(started))


def mark_done(run_id: str, target: int) -> None:
    """Count one finished task; the one reaching target signals the run's finish time."""
    r = _redis()
    if r.incr(done_key(run_id)) == target:
        r.rpush(fin_key(run_id), repr(time.time()))


def count_done(r: redis.Redis, run_id: str) -> int:
    """How many tasks of the run have finished so far."""
    raw = r.get(done_key(run_id))
    return int(raw) if raw is not None else 0


def read_starts(r: redis.Redis, run_id: str) -> dict[int, float]:
    """Start times recorded by the run's tasks, by idx."""
    raw: dict[bytes, bytes] = r.hgetall(start_key(run_id))  # type: ignore[assignment]
    return {int(k): float(v) for k, v in raw.items()}


def wait_finished(
    r: redis.Redis,
    run_id: str,
    target: int,
    deadline_s: float,
    check_workers: Callable[[], None] = lambda: None,
) -> float:
    """Block until the run's last task finished; return its finish time or raise BenchTimeout."""
    deadline = time.monotonic() + deadline_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            done = count_done(r, run_id)
            raise BenchTimeout(
                f"run {run_id}: only {done}/{target} tasks finished within {deadline_s:.0f}s"
            )
        got = r.blpop([fin_key(run_id)], timeout=min(1.0, remaining))
        if got is not None:
            return float(got[1])
        check_workers()
