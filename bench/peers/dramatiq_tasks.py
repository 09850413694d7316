"""Dramatiq actors; `setup_broker` builds the Redis broker from BENCH_BROKER_URL for workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.peers import sink

QUEUE = "bench"


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


FUNCTIONS: dict[str, Callable[..., None]] = {"noop": noop, "nap": nap, "stamp": stamp}


def declare(broker: RedisBroker) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Register the bench actors (no retries) on broker; return them by task kind."""
    return {
        kind: dramatiq.actor(
            actor_name=f"bench_{kind}", queue_name=QUEUE, broker=broker, max_retries=0
        )(fn)
        for kind, fn in FUNCTIONS.items()
    }


def setup_broker() -> None:
    """Worker entry (`dramatiq bench.peers.dramatiq_tasks:setup_broker`): set the global broker."""
    broker = RedisBroker(url=sink.env_url(sink.BROKER_ENV))  # type: ignore[no-untyped-call]
    declare(broker)
    dramatiq.set_broker(broker)
