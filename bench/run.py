"""One command: kubetask and the peers on the same workloads; writes bench/results/results.{json,md}.

`python -m bench.run` (full: spec sizes, 3 runs) or `--quick` (small sizes, 1 run, ~3 min).
Runs interleave: run 1 kubetask, the peers, the concurrency curve (bench/curve.py), then
run 2 ..., so drift favours no system.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import curve
from bench import kubetask_bench as kt
from bench import plan as shared
from bench.redis_server import RedisServerError, find_binary
from bench.report import order, render
from bench.stats import Result, write_results

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "results.json"
C16_OUT = DEFAULT_OUT.with_name("c16.json")  # --only c16 keeps the full report in place
CURVE_OUT = DEFAULT_OUT.with_name("curve.json")  # likewise --only curve
CURVE = "curve"
PEER_NAMES = shared.BASE_PEERS + shared.C16_PEERS


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options (the kubetask ones are shared with bench.kubetask_bench)."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    kt.add_kubetask_options(p)
    p.add_argument("--only", choices=("kubetask", "peers", shared.C16, CURVE),
                   help="run one side only, or only the c16 comparison (kubetask group c16 and "
                   "the -c16 peers: equal total concurrency 16, e2e workloads only), or only "
                   "the concurrency curve (kubetask, Dramatiq, Celery at 32 and 64)")
    p.add_argument("--systems", default=",".join(PEER_NAMES),
                   help="peers to run: comma list of " + ",".join(PEER_NAMES))
    p.add_argument("--out", type=Path, help=f"JSON path (.md written beside); default "
                   f"{DEFAULT_OUT.name}, or {C16_OUT.name} with --only {shared.C16}, or "
                   f"{CURVE_OUT.name} with --only {CURVE}")
    return p.parse_args(argv)


def check_peers(systems: Sequence[str]) -> None:
    """Check the system names, redis-server and the peer packages; exit with a hint."""
    unknown = sorted(set(systems) - set(PEER_NAMES))
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {list(PEER_NAMES)}")
    try:
        find_binary()
    except RedisServerError:
        raise SystemExit(
            "bench: redis-server is not installed; the peers (Celery, Dramatiq, RQ) need it.\n"
            "Install it with:  apt-get update && apt-get install -y redis-server\n"
            "(or run the kubetask side alone: python -m bench.run --only kubetask)"
        ) from None
    try:
        importlib.import_module("bench.run_peers")
    except ImportError as exc:
        raise SystemExit(
            f"bench: a peer package is missing ({exc.name}); install them with:\n"
            "  .venv/bin/pip install -r bench/requirements-peers.txt\n"
            "(or run the kubetask side alone: python -m bench.run --only kubetask)"
        ) from None


def merge_peer_run(into: dict[tuple[str, str], Result], run: Sequence[Result]) -> None:
    """Append one peers run (1 value per Result) to the accumulated Results."""
    for r in run:
        key = (r.workload, r.system)
        if key not in into:
            into[key] = r
            continue
        into[key].runs.extend(r.runs)
        into[key].params.setdefault("per_run", []).extend(r.params.get("per_run", []))


def run_peers_once(plan: kt.KtPlan, systems: list[str], concurrency: int,
                   into: dict[tuple[str, str], Result]) -> list[str]:
    """One run of every peer on its own redis-server; returns error texts."""
    from bench import run_peers  # after check_peers: needs Celery, Dramatiq, RQ

    p = plan.peers
    one = shared.Plan(1, p.n_noop, p.n_sleep, p.n_submit, p.latency)
    results, errors = run_peers.run_all(one, systems, concurrency)
    merge_peer_run(into, results)
    return errors


def peers_meta(concurrency: int, systems: Sequence[str]) -> dict[str, Any]:
    """Peer versions, what their concurrency means, and the c16 variants' processes."""
    from bench import run_peers

    base = [s for s in systems if s in shared.BASE_PEERS]
    meaning = (f"{', '.join(base)}: {concurrency} task-executing worker processes in total, "
               "1 task at a time each" if base else "only the c16 variants")
    return {"concurrency": concurrency, "versions": run_peers.versions(),
            "concurrency_meaning": meaning, "c16_layouts": run_peers.c16_layouts(systems)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything, write results.json and results.md, print the report."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.out is None:
        args.out = {shared.C16: C16_OUT, CURVE: CURVE_OUT}.get(args.only, DEFAULT_OUT)
    if args.only == shared.C16:
        args.groups = shared.C16
    plan, opts = kt.plan_and_options(args)
    systems = [s for s in args.systems.split(",") if s]
    if args.only == shared.C16:
        systems = [s for s in systems if s in shared.C16_PEERS]
    do_curve = args.only in (None, CURVE)
    do_kt, do_peers = args.only not in ("peers", CURVE), args.only not in ("kubetask", CURVE)
    levels = curve.QUICK_LEVELS if args.quick else curve.FULL_LEVELS
    if do_peers or do_curve:
        check_peers(systems)
    started, load_start = time.monotonic(), os.getloadavg()
    kt_runs: kt.PerRun = {}
    peers: dict[tuple[str, str], Result] = {}
    curve_runs: curve.Runs = {}
    errors: list[str] = []
    for run in range(1, plan.runs + 1):
        if do_kt:
            errors += kt.run_once(plan, opts, run, kt_runs)
        if do_peers:
            errors += run_peers_once(plan, systems, opts.concurrency, peers)
        if do_curve:
            errors += curve.run_once(plan.peers, levels, run, curve_runs, opts.c16_worker_args)
    results = order(kt.collect(kt_runs, opts) + list(peers.values()))
    c16 = {(r.workload, r.system): r.summary.median for r in results if shared.is_c16(r.system)}
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full", "runs": plan.runs,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "kubetask": kt.kubetask_meta(plan, opts) if do_kt else {},
        "peers": peers_meta(opts.concurrency, systems) if do_peers else {},
        "wall_seconds": round(time.monotonic() - started, 1), "errors": errors,
    }
    if do_curve:
        meta["curve"] = curve.summary(curve_runs, levels, c16, opts.c16_worker_args)
    report = render(results, meta)
    write_results(args.out, results, meta, report)
    print(report, end="")
    shared.log(f"wrote {args.out} and {args.out.with_suffix('.md')} in {meta['wall_seconds']}s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
