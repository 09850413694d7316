"""Scaling curve: dispatch rate by backlog size (held steady) and by worker count.

The backlog is submitted with no workers running; then the workers start and the rate is
taken from the task records' finished_at: completions (skip, skip + count] in finish order,
so worker start-up is excluded and the clock is the tasks' own. For the backlog curve a
feeder submits FEED_BATCH more tasks each time FEED_BATCH complete, so the backlog stays
at about B for any window length and both backlog sizes pay the same feeder cost.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.costs import CpuMeter
from bench.kt.cluster import NAMESPACE, Cluster
from bench.kt.measure import (
    BenchClient,
    BenchTimeout,
    Figures,
    noop_specs,
    records,
    submit_batches,
    succeeded_count,
    succeeded_ids,
    wait_ready,
    wait_succeeded,
    window_rate,
)

Window = tuple[int, int]  # (skip, count) completions
PRELOAD_BATCH = 10_000
FEED_BATCH = 500


async def _feed_until(cluster: Cluster, client: BenchClient, target: int) -> int:
    """Top the backlog up by FEED_BATCH per FEED_BATCH completions until target succeeded."""
    fed = 0
    deadline = time.monotonic() + 60.0 + target * 0.05
    while (done := await succeeded_count(client)) < target:
        while fed + FEED_BATCH <= done:
            await client.submit_many(noop_specs(FEED_BATCH))
            fed += FEED_BATCH
        if time.monotonic() > deadline:
            raise BenchTimeout(f"only {done}/{target} succeeded")
        cluster.check_alive()
        await asyncio.sleep(0.05)
    return fed


async def _drain(backlog: int, workers: int, per_worker: int, window: Window,
                 feed: bool) -> dict[str, Any]:
    """Pre-load backlog tasks, start the workers, rate over the window of completions."""
    skip, count = window
    target = skip + count + 1
    with Cluster(f"scale-{backlog}-{workers}w") as cluster:
        cluster.start_scheduler()
        async with BenchClient(cluster.endpoint, namespace=NAMESPACE) as client:
            await wait_ready(client, 0, 60.0, cluster.check_alive)
            preload_s = await submit_batches(client, backlog, PRELOAD_BATCH)
            meter = CpuMeter(cluster.pids())
            meter.start()
            cluster.start_workers(workers, per_worker)
            meter.add_new(cluster.pids())
            if feed:
                fed = await _feed_until(cluster, client, target)
            else:
                fed = 0
                await wait_succeeded(client, target, 60.0 + target * 0.05, cluster.check_alive, 0.1)
            cpu = meter.per_task_ms(await succeeded_count(client))
            finished = [t.finished_at or 0.0 for t in await records(client, await succeeded_ids(client))]
    return {"tasks_per_s": window_rate(finished, skip, count), "backlog": backlog, "fed": fed,
            "workers": workers, "max_concurrent": per_worker, "window": list(window),
            "preload_seconds": preload_s, "preload_tasks_per_s": backlog / preload_s,
            "cpu_ms_per_task_workers_incl_startup": cpu}


def measure_backlogs(backlogs: tuple[int, ...], per_worker: int, window: Window,
                     workers: int = 2) -> Figures:
    """dispatch_rate_pending_<B>: backlog held at about B, same completion window for every B."""
    out: Figures = {}
    for backlog in backlogs:
        d = asyncio.run(_drain(backlog, workers, per_worker, window, feed=True))
        out[f"dispatch_rate_pending_{backlog}"] = ("tasks/s", d["tasks_per_s"], d)
    return out


def measure_workers(counts: tuple[int, ...], per_worker: int, backlog: int) -> Figures:
    """dispatch_rate_workers_<N>: drain a backlog with N workers, middle 80% of completions."""
    out: Figures = {}
    window = (backlog // 10, backlog * 8 // 10)
    for n in counts:
        d = asyncio.run(_drain(backlog, n, per_worker, window, feed=False))
        out[f"dispatch_rate_workers_{n}"] = ("tasks/s", d["tasks_per_s"], d)
    return out
