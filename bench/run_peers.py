"""CLI: run Celery, Dramatiq and RQ on every workload and write bench/results/peers.json."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis

from bench.peers import celery_bench, dramatiq_bench, rq_bench
from bench.peers.workloads import Peer, Session, run_submit
from bench.plan import FULL, QUICK, SETTLE_S, SLEEP_S, Plan, log
from bench.redis_server import find_binary, start_redis
from bench.stats import Result, write_results

PEERS: dict[str, Peer] = {
    p.name: p
    for p in (
        celery_bench.PEER, dramatiq_bench.PEER, rq_bench.PEER,
        celery_bench.PEER_C16, dramatiq_bench.PEER_C16, rq_bench.PEER_C16,
    )
}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "peers.json"
Figures = dict[str, tuple[str, float, dict[str, Any]]]


def measure_with_workers(peer: Peer, url: str, plan: Plan, concurrency: int) -> Figures:
    """Throughput and (unless peer.throughput_only) latency workloads on one warm worker set."""
    out: Figures = {}
    with Session(peer, url, concurrency) as s:
        t = s.throughput(plan.n_noop)
        out["e2e_noop"] = ("tasks/s", t["tasks_per_s"], t)
        time.sleep(SETTLE_S)
        t = s.throughput(plan.n_sleep, SLEEP_S)
        out[f"e2e_sleep_{SLEEP_S * 1000:g}ms"] = ("tasks/s", t["tasks_per_s"], t)
        for rate, n in () if peer.throughput_only else plan.latency:
            time.sleep(SETTLE_S)
            lat = s.latency(rate, n)
            out[f"latency_p50_{rate:g}/s"] = ("ms", lat["p50_ms"], lat)
            out[f"latency_p99_{rate:g}/s"] = ("ms", lat["p99_ms"], lat)
    return out


def measure_submit(peer: Peer, url: str, plan: Plan) -> Figures:
    """Client submit rate, batched and one by one, with no workers consuming."""
    out: Figures = {}
    r = redis.Redis.from_url(url)
    try:
        for batched, name in ((True, "submit_batched"), (False, "submit_one_by_one")):
            r.flushall()
            sub = run_submit(peer, url, plan.n_submit, batched)
            out[name] = ("tasks/s", sub["tasks_per_s"], sub)
        r.flushall()
    finally:
        r.close()
    return out


def params_for(workload: str, plan: Plan, concurrency: int) -> dict[str, Any]:
    """Workload parameters recorded next to each figure."""
    if workload == "e2e_noop":
        return {"n": plan.n_noop, "concurrency": concurrency}
    if workload.startswith("e2e_sleep"):
        return {"n": plan.n_sleep, "sleep_s": SLEEP_S, "concurrency": concurrency}
    if workload.startswith("submit"):
        return {"n": plan.n_submit}
    rate = float(workload.rsplit("_", 1)[1].removesuffix("/s"))
    n = dict(plan.latency)[rate]
    return {"rate_per_s": rate, "n": n, "concurrency": concurrency}


def collect(
    per_run: dict[tuple[str, str], list[tuple[str, float, dict[str, Any]]]],
    plan: Plan,
    concurrency: int,
) -> list[Result]:
    """Turn per-run figures into Result rows ordered by workload, then system."""
    results = []
    for (workload, system), runs in per_run.items():
        peer = PEERS[system]
        params = params_for(workload, plan, concurrency_of(peer, concurrency))
        if peer.layout:
            params["layout"] = peer.layout
        params["per_run"] = [detail for _, _, detail in runs]
        results.append(Result(workload, system, runs[0][0], [v for _, v, _ in runs], params))
    order = list(dict.fromkeys(w for w, _ in per_run))
    results.sort(key=lambda r: (order.index(r.workload), r.system))
    return results


def concurrency_of(peer: Peer, concurrency: int) -> int:
    """Total concurrency a peer runs with: its fixed one (c16 variants) or --concurrency."""
    return peer.concurrency or concurrency


def c16_layouts(systems: Sequence[str]) -> dict[str, str]:
    """Worker processes of each c16 variant among systems (they ignore --concurrency)."""
    return {s: PEERS[s].layout for s in systems if PEERS[s].layout}


def versions() -> dict[str, str]:
    """Versions of the peers, redis-py, redis-server and Python."""
    out = {name: importlib.metadata.version(name) for name in ("celery", "dramatiq", "rq", "redis")}
    cmd = [find_binary(), "--version"]
    server = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True)
    out["redis-server"] = server.stdout.strip()
    out["python"] = platform.python_version()
    return out


def run_all(plan: Plan, systems: Sequence[str], concurrency: int) -> tuple[list[Result], list[str]]:
    """Every run of every system on one private redis-server; errors are collected, not fatal."""
    per_run: dict[tuple[str, str], list[tuple[str, float, dict[str, Any]]]] = {}
    errors: list[str] = []
    with start_redis() as srv:
        log(f"redis-server pid {srv.pid} on {srv.url}")
        for run in range(1, plan.runs + 1):
            for name in systems:
                log(f"run {run}/{plan.runs}: {name}")
                t0 = time.monotonic()
                try:
                    with redis.Redis.from_url(srv.url) as r:
                        r.flushall()
                    peer = PEERS[name]
                    figs = measure_with_workers(peer, srv.url, plan,
                                                concurrency_of(peer, concurrency))
                    if not peer.throughput_only:
                        figs |= measure_submit(peer, srv.url, plan)
                except Exception:
                    errors.append(f"run {run} {name}: {traceback.format_exc()}")
                    log(f"FAILED {name} run {run}:\n{traceback.format_exc()}")
                    continue
                for workload, fig in figs.items():
                    per_run.setdefault((workload, name), []).append(fig)
                log(f"  {name} done in {time.monotonic() - t0:.1f}s")
    return collect(per_run, plan, concurrency), errors


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.run_peers", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run (smoke test)")
    p.add_argument("--runs", type=int, help="override the number of runs (full: 3, quick: 1)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="total task-executing processes per system, each running 1 task at a time",
    )
    p.add_argument("--systems", default=",".join(PEERS), help="comma list of " + ",".join(PEERS))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON path (.md written beside)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, write JSON + Markdown, print the table; exit 1 if any run failed."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = Plan(args.runs, plan.n_noop, plan.n_sleep, plan.n_submit, plan.latency)
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown systems: {sorted(unknown)}; choose from {list(PEERS)}")
    started = time.monotonic()
    results, errors = run_all(plan, systems, args.concurrency)
    meta = {
        "mode": "quick" if args.quick else "full",
        "plan": asdict(plan),
        "concurrency": args.concurrency,
        "concurrency_meaning": "total task-executing worker processes, 1 task at a time each",
        "c16_layouts": c16_layouts(systems),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "errors": errors,
    }
    table = write_results(args.out, results, meta)
    print(table, end="")
    log(f"wrote {args.out} and {args.out.with_suffix('.md')} in {meta['wall_seconds']}s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
