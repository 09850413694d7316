"""Submit throughput from one client with no workers: submit_many, and submit in a loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.kt.cluster import NAMESPACE, QUEUE, Cluster
from bench.kt.measure import BenchClient, Figures, noop_specs


async def _pending(client: BenchClient) -> int:
    """Pending tasks of the benchmark queue (0 before the queue exists)."""
    return (await client.raw_reader.counts(QUEUE)).pending


async def _submit(n: int, batched: bool) -> dict[str, Any]:
    """Fresh etcd, no scheduler or workers; time n submits and check they all landed."""
    with Cluster("submit") as cluster:
        async with BenchClient(cluster.endpoint, namespace=NAMESPACE) as client:
            await client.submit_many(noop_specs(1))  # connection and queue marker, untimed
            before = await _pending(client)
            specs = noop_specs(n)
            t0 = time.perf_counter()
            if batched:
                await client.submit_many(specs)
            else:
                for _ in range(n):
                    await client.submit("noop", queue=QUEUE)
            seconds = time.perf_counter() - t0
            landed = await _pending(client) - before
    if landed != n:
        raise RuntimeError(f"kubetask: submitted {n} tasks but {landed} are pending")
    return {"seconds": seconds, "tasks_per_s": n / seconds, "n": n}


def measure_submit(n: int) -> Figures:
    """submit_batched and submit_one_by_one figures (blocking)."""
    out: Figures = {}
    for batched, name in ((True, "submit_batched"), (False, "submit_one_by_one")):
        sub = asyncio.run(_submit(n, batched))
        out[name] = ("tasks/s", sub["tasks_per_s"], sub)
    return out
