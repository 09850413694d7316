"""Workloads on one warm worker set: e2e no-op, e2e 10 ms sleep, paced submit->start latency."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.costs import CpuMeter
from bench.kt.cluster import NAMESPACE, QUEUE, Cluster
from bench.kt.measure import (
    BenchClient,
    Figures,
    check_once,
    noop_specs,
    records,
    succeeded_count,
    wait_ready,
    wait_succeeded,
)
from bench.stats import latency_summary

SETTLE_S = 0.5  # pause between workloads, as in the peer harness
POLL_S = 0.1  # completion poll; the figure itself comes from the records' finished_at


class Session:
    """A client against a running scheduler and workers, with the bounded waits."""

    def __init__(self, client: BenchClient, cluster: Cluster, concurrency: int) -> None:
        self.client = client
        self.cluster = cluster
        self.concurrency = concurrency

    async def throughput(self, n: int, sleep_s: float = 0.0) -> dict[str, Any]:
        """Submit n tasks with submit_many; seconds from submit start to the last finish."""
        specs = noop_specs(n, "echo", {"duration": sleep_s}) if sleep_s else noop_specs(n)
        deadline_s = 60.0 + n * (0.01 + 3.0 * sleep_s / self.concurrency)
        base = await succeeded_count(self.client)
        meter = CpuMeter(self.cluster.pids())
        meter.start()
        revision = await self.client.raw_store.revision()
        t0 = time.time()
        tasks = await self.client.submit_many(specs)
        submitted = time.time()
        await wait_succeeded(self.client, base + n, deadline_s, self.cluster.check_alive, POLL_S)
        cpu = meter.per_task_ms(n)
        # Every etcd transaction is one revision: transactions per task, all hops together.
        txns = (await self.client.raw_store.revision() - revision) / n
        recs = await records(self.client, [t.id for t in tasks])
        once = check_once(recs)
        seconds = max(r.finished_at or 0.0 for r in recs) - t0
        return {"seconds": seconds, "tasks_per_s": n / seconds, "submit_seconds": submitted - t0,
                "n": n, **once, "cpu_ms_per_task": cpu, "etcd_txn_per_task": round(txns, 3)}

    async def latency(self, rate: float, n: int, drain_s: float = 30.0) -> dict[str, Any]:
        """Submit n no-op tasks one by one at a paced rate; submit->started_at percentiles."""
        ids: list[str] = []
        submitted: list[float] = []
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            submitted.append(time.time())
            ids.append((await self.client.submit("noop", queue=QUEUE)).id)
        done = await self.client.wait(ids, timeout=drain_s)
        check_once(done)
        lat_ms = [((t.started_at or 0.0) - s) * 1000.0 for t, s in zip(done, submitted, strict=True)]
        return latency_summary(lat_ms, submitted)


async def _measure(session: Session, n_noop: int, n_sleep: int, sleep_s: float,
                   latency: tuple[tuple[float, int], ...]) -> Figures:
    """The workloads in the peers' order, with the same pauses between them."""
    out: Figures = {}
    t = await session.throughput(n_noop)
    out["e2e_noop"] = ("tasks/s", t["tasks_per_s"], t)
    await asyncio.sleep(SETTLE_S)
    t = await session.throughput(n_sleep, sleep_s)
    out[f"e2e_sleep_{sleep_s * 1000:g}ms"] = ("tasks/s", t["tasks_per_s"], t)
    for rate, n in latency:
        await asyncio.sleep(SETTLE_S)
        lat = await session.latency(rate, n)
        out[f"latency_p50_{rate:g}/s"] = ("ms", lat["p50_ms"], lat)
        out[f"latency_p99_{rate:g}/s"] = ("ms", lat["p99_ms"], lat)
    return out


@contextlib.asynccontextmanager
async def warm_session(workers: int, per_worker: int, label: str = "e2e",
                       worker_args: Sequence[str] = ()) -> AsyncIterator[Session]:
    """Fresh etcd, 1 scheduler, `workers` workers (with the extra worker_args) warmed up with
    4 x concurrency no-ops."""
    concurrency = workers * per_worker
    with Cluster(f"{label}-mc{per_worker}") as cluster:
        cluster.start_scheduler()
        cluster.start_workers(workers, per_worker, worker_args)
        async with BenchClient(cluster.endpoint, namespace=NAMESPACE) as client:
            await wait_ready(client, workers, 60.0, cluster.check_alive)
            session = Session(client, cluster, concurrency)
            await session.throughput(4 * concurrency)
            yield session


async def _run(workers: int, per_worker: int, n_noop: int, n_sleep: int, sleep_s: float,
               latency: tuple[tuple[float, int], ...], worker_args: Sequence[str]) -> Figures:
    async with warm_session(workers, per_worker, worker_args=worker_args) as session:
        return await _measure(session, n_noop, n_sleep, sleep_s, latency)


def measure_with_workers(workers: int, per_worker: int, n_noop: int, n_sleep: int, sleep_s: float,
                         latency: tuple[tuple[float, int], ...],
                         worker_args: Sequence[str] = ()) -> Figures:
    """Throughput and latency figures of one system variant (blocking); worker_args are extra
    `kubetask worker` arguments."""
    return asyncio.run(_run(workers, per_worker, n_noop, n_sleep, sleep_s, latency, worker_args))
