"""Memory: process RSS idle and after many tasks; etcd db size per task and after compaction."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.kt.cluster import MIB, NAMESPACE, Cluster
from bench.kt.measure import (
    BenchClient,
    Figures,
    noop_specs,
    succeeded_count,
    wait_drained,
    wait_ready,
)
from kubetask.errors import StoreError
from kubetask.etcd_process import find_etcd

IDLE_SETTLE_S = 1.0
MAINTENANCE_TIMEOUT_S = 600.0  # a physical compaction of 100k tasks' history takes a while


def _worker_max(rss: dict[str, float]) -> float:
    """Largest RSS among the worker processes."""
    return max(v for k, v in rss.items() if k.startswith("worker-"))


def defrag(endpoint: str) -> str | None:
    """Defragment with the etcd wheel's etcdctl (not in the Store API); None if absent."""
    etcdctl = Path(find_etcd()).with_name("etcdctl")
    if not etcdctl.exists():
        return None
    cmd = [str(etcdctl), f"--endpoints={endpoint}", "--command-timeout=120s", "defrag"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)
    return str(etcdctl)


async def _db(client: BenchClient) -> dict[str, float]:
    """etcd db_size and db_size_in_use in MiB, and the revision."""
    s = await client.raw_store.status()
    return {"db_mib": s["db_size"] / MIB, "in_use_mib": s["db_size_in_use"] / MIB,
            "revision": s["revision"]}


async def _compact(client: BenchClient, revision: int) -> None:
    """Physical compaction at revision; one kubetask already compacted past is fine."""
    try:
        await client.raw_store.compact(revision, physical=True)
    except StoreError as exc:
        if "compacted" not in str(exc):
            raise


async def _run(n: int, batch: int, workers: int, per_worker: int) -> dict[str, Any]:
    """Run n no-op tasks in batches on a fresh system; RSS after each batch; then compact."""
    with Cluster("memory") as cluster:
        cluster.start_scheduler()
        cluster.start_workers(workers, per_worker)
        async with BenchClient(cluster.endpoint, namespace=NAMESPACE,
                               timeout=MAINTENANCE_TIMEOUT_S) as client:
            await wait_ready(client, workers, 60.0, cluster.check_alive)
            await asyncio.sleep(IDLE_SETTLE_S)
            idle = cluster.rss_mib()
            db0 = await _db(client)
            curve: list[dict[str, float]] = []
            t0 = time.perf_counter()
            submitted = 0
            while submitted < n:
                size = min(batch, n - submitted)
                t_batch = time.perf_counter()
                await client.submit_many(noop_specs(size))
                submitted += size
                await wait_drained(client, 60.0 + size * 0.1, cluster.check_alive, 0.25)
                rate = size / (time.perf_counter() - t_batch)
                curve.append({"tasks": submitted, "batch_tasks_per_s": rate, **cluster.rss_mib()})
            seconds = time.perf_counter() - t0
            succeeded = await succeeded_count(client)  # lower than n if retention already ran
            after = cluster.rss_mib()
            db1 = await _db(client)
            t_compact = time.perf_counter()
            await _compact(client, int(db1["revision"]))
            t_defrag = time.perf_counter()
            db2 = await _db(client)
            tool = await asyncio.to_thread(defrag, cluster.endpoint)
            db3 = await _db(client) if tool else None
            maintenance = {"compact_seconds": t_defrag - t_compact,
                           "defrag_seconds": time.perf_counter() - t_defrag}
    return {"n": n, "succeeded_index_at_end": succeeded, "batch": batch, "workers": workers,
            "max_concurrent": per_worker,
            "tasks_per_s": n / seconds, "rss_idle_mib": idle, "rss_after_mib": after,
            "rss_curve_mib": curve, "db_start": db0, "db_after": db1, "db_compacted": db2,
            "db_defragmented": db3, "defrag_tool": tool, **maintenance}


def measure_memory(n: int, batch: int, per_worker: int, workers: int = 2) -> Figures:
    """RSS and etcd db size figures (blocking)."""
    d = asyncio.run(_run(n, batch, workers, per_worker))
    k = f"{n // 1000}k"
    per_100k = (d["db_after"]["db_mib"] - d["db_start"]["db_mib"]) * 100_000 / n
    out: Figures = {
        "worker_rss_idle": ("MiB", _worker_max(d["rss_idle_mib"]), d),
        "scheduler_rss_idle": ("MiB", d["rss_idle_mib"]["sched-0"], {}),
        f"worker_rss_after_{k}": ("MiB", _worker_max(d["rss_after_mib"]), {}),
        f"scheduler_rss_after_{k}": ("MiB", d["rss_after_mib"]["sched-0"], {}),
        f"etcd_rss_after_{k}": ("MiB", d["rss_after_mib"]["etcd"], {}),
        "etcd_db_per_100k_tasks": ("MiB", per_100k, {}),
        f"etcd_db_after_{k}": ("MiB", d["db_after"]["db_mib"], {}),
        f"etcd_db_in_use_after_{k}_compacted": ("MiB", d["db_compacted"]["in_use_mib"], {}),
        f"etcd_db_after_{k}_compacted": ("MiB", d["db_compacted"]["db_mib"], {}),
    }
    if d["db_defragmented"] is not None:
        out[f"etcd_db_after_{k}_defrag"] = ("MiB", d["db_defragmented"]["db_mib"], {})
    return out
