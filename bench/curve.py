"""The concurrency curve: end-to-end throughput of kubetask, Dramatiq and Celery at equal
total concurrency above 16 (32 and 64 slots; quick mode: 64), 2 worker processes each,
no-op and 10 ms tasks. The c16 rows of the main table are its first point.

The c16 comparison sits near each system's defaults; this curve shows how each scales
when users give it more slots: Dramatiq's and Celery's thread pools, kubetask's batches
(a transaction carries more tasks when more slots free at once). RQ is left out: an RQ
worker process runs one job at a time, so 64 slots would be 64 processes on 2 cores.
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bench import plan as shared
from bench.kt.throughput import measure_with_workers as kubetask_figures
from bench.redis_server import start_redis

PROCESSES = shared.C16_PROCESSES
FULL_LEVELS = (32, 64)
QUICK_LEVELS = (64,)
SYSTEMS = ("kubetask", "dramatiq", "celery")
WORKLOADS = ("e2e_noop", f"e2e_sleep_{shared.SLEEP_S * 1000:g}ms")

# (workload, total concurrency, system) -> tasks/s of each run
Runs = dict[tuple[str, int, str], list[float]]


def layout(system: str, level: int, kubetask_args: Sequence[str] = ()) -> str:
    """The worker processes of one system at one level."""
    per = level // PROCESSES
    extra = "".join(f" {a}" for a in kubetask_args)
    return {
        "kubetask": f"1 scheduler + {PROCESSES} workers x `--max-concurrent {per}{extra}`",
        "dramatiq": f"`dramatiq --processes {PROCESSES} --threads {per}`",
        "celery": f"{PROCESSES} x `celery worker -P threads -c {per}`",
    }[system]


def _record(into: Runs, level: int, system: str, figs: dict[str, Any]) -> None:
    for workload, (_, value, _) in figs.items():
        if workload in WORKLOADS:
            into.setdefault((workload, level, system), []).append(value)


def run_once(plan: shared.Plan, levels: tuple[int, ...], run: int, into: Runs,
             kubetask_worker_args: Sequence[str] = ()) -> list[str]:
    """One run of every system at every level (kubetask's workers with the extra arguments);
    returns error texts (a failure is not fatal)."""
    import redis

    from bench import run_peers  # needs Celery and Dramatiq (checked by bench.run)
    from bench.peers import celery_bench, dramatiq_bench

    peers = {"dramatiq": dramatiq_bench.PEER_C16, "celery": celery_bench.PEER_C16}
    errors: list[str] = []
    for level in levels:
        for system in SYSTEMS:
            shared.log(f"curve run {run}/{plan.runs}: {system} at concurrency {level}")
            t0 = time.monotonic()
            try:
                if system == "kubetask":
                    figs = kubetask_figures(PROCESSES, level // PROCESSES, plan.n_noop,
                                            plan.n_sleep, shared.SLEEP_S, (),
                                            kubetask_worker_args)
                else:
                    peer = replace(peers[system], name=f"{system}-c{level}", concurrency=level,
                                   layout=layout(system, level))
                    with start_redis() as srv:
                        with redis.Redis.from_url(srv.url) as r:
                            r.flushall()
                        figs = run_peers.measure_with_workers(peer, srv.url, plan, level)
            except Exception:
                errors.append(f"curve run {run} {system} c{level}: {traceback.format_exc()}")
                shared.log(f"FAILED curve {system} c{level}:\n{traceback.format_exc()}")
                continue
            _record(into, level, system, figs)
            shared.log(f"  {system} c{level} done in {time.monotonic() - t0:.1f}s")
    return errors


def summary(runs: Runs, levels: tuple[int, ...], c16: dict[tuple[str, str], float],
            kubetask_args: Sequence[str] = ()) -> dict[str, Any]:
    """JSON for the report: per workload and level, each system's median/min/max, with the
    c16 medians of the main table (kubetask-mc8, dramatiq-c16, celery-c16) as level 16."""
    rows: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        first = {s: c16.get((workload, shared.C16_KUBETASK if s == "kubetask" else f"{s}-c16"))
                 for s in SYSTEMS}
        if any(v is not None for v in first.values()):
            rows.append({"workload": workload, "concurrency": shared.C16_TOTAL,
                         "source": "c16 rows", "systems": {
                             s: {"median": v} for s, v in first.items() if v is not None}})
        for level in levels:
            systems = {s: {"median": statistics.median(v), "min": min(v), "max": max(v),
                           "runs": v}
                       for s in SYSTEMS if (v := runs.get((workload, level, s)))}
            if systems:
                rows.append({"workload": workload, "concurrency": level, "source": "curve",
                             "systems": systems})
    return {"levels": list(levels), "rows": rows, "layouts": {
        f"{s}-c{lv}": layout(s, lv, kubetask_args) for lv in levels for s in SYSTEMS}}


def render(curve: dict[str, Any]) -> str:
    """The Markdown section: medians (min-max) and kubetask's ratios per level."""
    lines = [
        "## Concurrency curve (equal total concurrency, 2 worker processes each)",
        "",
        "Medians over the runs, tasks/s (min-max); the 16 rows are the c16 rows above. "
        "Layouts: " + "; ".join(f"`{k}` = {v}" for k, v in curve["layouts"].items()) + ".",
        "",
        "| workload | concurrency | kubetask | dramatiq | celery | kubetask/dramatiq "
        "| kubetask/celery |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in curve["rows"]:
        s = row["systems"]
        cells = [_cell(s.get(name)) for name in SYSTEMS]
        ratios = [_ratio(s.get("kubetask"), s.get(peer)) for peer in ("dramatiq", "celery")]
        lines.append(f"| {row['workload']} | {row['concurrency']} | " + " | ".join(cells + ratios)
                     + " |")
    return "\n".join(lines) + "\n"


def _cell(v: dict[str, float] | None) -> str:
    if v is None:
        return "n/a"
    spread = f" ({v['min']:,.0f}-{v['max']:,.0f})" if "min" in v else ""
    return f"{v['median']:,.0f}{spread}"


def _ratio(kt: dict[str, float] | None, peer: dict[str, float] | None) -> str:
    if kt is None or peer is None or not peer["median"]:
        return "n/a"
    return f"{kt['median'] / peer['median']:.2f}"
