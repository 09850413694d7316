"""The peer of the operator path in bench.operator_bench: the same n tasks submitted with the
SDK to a scheduler and the same workers on a fresh etcd, each task's states seen by the
engine's change feed in this process. At once (one `submit_many`), or paced: one task per
`submit_many` call at a given rate (kubectl's in the same run), as the operator submits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psutil

from bench.kt.cluster import NAMESPACE, QUEUE, Cluster
from bench.kt.measure import BenchTimeout, wait_ready
from bench.kt.operator_path import task_kind
from bench.kt.seen import RssSampler, Seen, p50_p99, spans_ms
from kubetask.client import AsyncClient, TaskFeed, TaskSpec


async def follow(feed: TaskFeed, seen: Seen) -> None:
    async for tasks in feed:
        for task in tasks:
            seen.note(task.id, task.state.value)


async def submit(client: AsyncClient, specs: list[TaskSpec], rate: float | None,
                 seen: Seen) -> None:
    """All at once (rate None), or one per call on the schedule t0 + i / rate, each task
    noted as created when its call returned (the peer of a Task's ADDED in the watch)."""
    if rate is None:
        await client.submit_many(specs)
        return
    t0 = time.monotonic()
    for i, spec in enumerate(specs):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        (task,) = await client.submit_many([spec])
        seen.created(task.id)


async def measure_sdk(n: int, workers: int, max_concurrent: int, duration: float,
                      rate: float | None = None, deadline_s: float = 600) -> dict[str, Any]:
    """One run: scheduler + workers ready, n tasks submitted (at once, or at `rate` per
    second), all Succeeded."""
    with Cluster("sdk") as cluster:
        cluster.start_scheduler()
        cluster.start_workers(workers, max_concurrent)
        async with AsyncClient(cluster.endpoint, namespace=NAMESPACE) as client:
            await wait_ready(client, workers, 60, cluster.check_alive)
            seen = Seen()
            feed = await client.task_changes()
            follower = asyncio.create_task(follow(feed, seen))
            type_, payload = task_kind(duration)
            specs = [TaskSpec(type_, payload, queue=QUEUE, name=f"bench-{i:05d}")
                     for i in range(n)]
            pids = cluster.pids() | {"bench (client)": psutil.Process().pid}
            before = {k: _cpu(pid) for k, pid in pids.items()}
            rss = RssSampler(pids["sched-0"])
            idle_rss = rss.now()
            rss.start()
            t0 = time.monotonic()
            await submit(client, specs, rate, seen)
            submitted = time.monotonic() - t0
            deadline = t0 + deadline_s
            while seen.count_succeeded() < n:
                cluster.check_alive()
                if seen.failed or time.monotonic() > deadline:
                    raise BenchTimeout(f"{seen.count_succeeded()}/{n} succeeded, failed: "
                                       f"{dict(list(seen.failed.items())[:5])}")
                await asyncio.sleep(0.05)
            cpu = {k: _cpu(pid) - before[k] for k, pid in pids.items()}
            feed.close()
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    from_start = p50_p99(spans_ms(seen.started, t0))
    figures: dict[str, Any] = {}
    if rate is not None:  # at once, a task is "seen" no earlier than its state after the call
        figures = dict(zip(("seen_to_running_p50", "seen_to_running_p99"),
                           p50_p99(spans_ms(seen.started, seen.appeared)), strict=True))
        figures |= dict(zip(("seen_to_succeeded_p50", "seen_to_succeeded_p99"),
                            p50_p99(spans_ms(seen.succeeded, seen.appeared)), strict=True))
    return figures | {
        "start_to_running_p50": from_start[0], "start_to_running_p99": from_start[1],
        "makespan": round(max(seen.succeeded.values()) - t0, 2),
        "submit": round(submitted, 2),
        "scheduler_rss_idle": round(idle_rss, 1), "scheduler_rss_peak": round(rss.stop(), 1),
        "control_cpu_ms_per_task": round(cpu["sched-0"] * 1000 / n, 3),
        "total_cpu_ms_per_task": round(sum(cpu.values()) * 1000 / n, 3),
        "details": {"cpu_ms_per_task": {k: round(v * 1000 / n, 3) for k, v in cpu.items()},
                    "rate_per_s": None if rate is None else round(rate, 1)},
    }


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)
