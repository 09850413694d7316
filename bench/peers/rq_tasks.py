"""RQ job functions run by `rq worker`; the sink URL comes from BENCH_SINK_URL/BENCH_BROKER_URL."""

from __future__ import annotations

import time

from bench.peers import sink


def noop(run_id: str, target: int) -> None:
    """Do nothing but count completion."""
    sink.mark_done(run_id, target)


def nap(run_id: str, target: int, sleep_s: float) -> None:
    """Sleep sleep_s seconds, then count completion."""
    time.sleep(sleep_s)
    sink.mark_done(run_id, target)


def stamp(run_id: str, target: int, idx: int) -> None:
    """Record the start time, then count completion."""
    sink.mark_started(run_id, idx, time.time())
    sink.mark_done(run_id, target)
