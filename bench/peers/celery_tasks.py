"""Celery app and tasks imported by `celery worker`; broker URL from BENCH_BROKER_URL."""

from __future__ import annotations

import time

from celery import Celery

from bench.peers import sink

app = Celery("bench_peers", broker=sink.env_url(sink.BROKER_ENV))
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(run_id: str, target: int) -> None:
    """Do nothing but count completion."""
    sink.mark_done(run_id, target)


@app.task(name="bench.nap")  # type: ignore[untyped-decorator]
def nap(run_id: str, target: int, sleep_s: float) -> None:
    """Sleep sleep_s seconds, then count completion."""
    time.sleep(sleep_s)
    sink.mark_done(run_id, target)


@app.task(name="bench.stamp")  # type: ignore[untyped-decorator]
def stamp(run_id: str, target: int, idx: int) -> None:
    """Record the start time, then count completion."""
    sink.mark_started(run_id, idx, time.time())
    sink.mark_done(run_id, target)
