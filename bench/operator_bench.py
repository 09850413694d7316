"""CLI: the operator measured. N Tasks (default 1,000) applied at once with one `kubectl apply`
to a test control plane, the operator and 2 workers: time to Running and to Succeeded per Task
(p50/p99, from a watch in this process), the operator's RSS and CPU, the API calls per Task;
beside it the same tasks submitted with the SDK (AsyncClient.submit_many), so the cost of the
Kubernetes path shows as a ratio. Writes bench/results/operator.json and .md."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.kt.operator_path import KUBECTL, OperatorRun, check_tools
from bench.kt.sdk_path import measure_sdk
from bench.peers.procs import REPO_ROOT
from bench.plan import log
from bench.stats import Result, fmt, write_results

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "operator.json"
OPERATOR, SDK, PACED = "kubetask-operator", "kubetask-sdk", "kubetask-sdk-paced"
SYSTEMS = (OPERATOR, SDK, PACED)

# (figure, unit, what it is); both systems unless the name says which
ROWS = [
    ("seen_to_running_p50", "ms", "the task exists (operator: the watch's ADDED; paced SDK: "
     "its submit returned; not for the SDK at once, whose tasks all exist at the start) -> "
     "seen Running or beyond (a quick task's Running is folded into Succeeded)"),
    ("seen_to_running_p99", "ms", "the same, p99"),
    ("seen_to_succeeded_p50", "ms", "the task exists -> seen Succeeded"),
    ("seen_to_succeeded_p99", "ms", "the same, p99"),
    ("start_to_running_p50", "ms", "the apply (operator) / the submitting (SDK) began -> seen "
     "Running; includes kubectl creating the Tasks one by one (and the paced SDK's pacing)"),
    ("start_to_running_p99", "ms", "the same, p99"),
    ("makespan", "s", "the apply / submit began -> the last task seen Succeeded"),
    ("submit", "s", "`kubectl apply -f` of the file / one `submit_many` / n `submit_many` "
     "of one task each at kubectl's rate of the same run"),
    ("control_cpu_ms_per_task", "ms", "CPU of the operator process (its schedulers included) / "
     "of the scheduler process, per task"),
    ("total_cpu_ms_per_task", "ms", "CPU of every process of the path (kube-apiserver, both "
     "etcds, operator, workers, this process with kubectl)"),
    ("operator_rss_idle", "MiB", "operator: TaskQueue Ready, 2 workers, no Task"),
    ("operator_rss_peak", "MiB", "operator: peak during the run (sampled every 50 ms)"),
    ("operator_rss_after", "MiB", "operator: 2 s after the last Task Succeeded (1,000 kept)"),
    ("scheduler_rss_idle", "MiB", "SDK paths: the scheduler process, idle"),
    ("scheduler_rss_peak", "MiB", "SDK path: its peak during the run"),
    ("task_api_calls_per_task", "calls", "operator: requests on Task resources other than "
     "list/watch (apiserver_request_total), including the user's create"),
    ("api_calls_per_task", "calls", "operator: every request other than list/watch, "
     "kubectl apply's GETs included"),
]
UNITS = {name: unit for name, unit, _ in ROWS}


def run_operator(args: argparse.Namespace) -> dict[str, Any]:
    run = OperatorRun(args.n, args.workers, args.max_concurrent, args.duration, args.kubectl)
    try:
        run.start()
        return run.measure()
    except BaseException:
        log(f"operator path failed; logs:\n{run.logs()}")
        raise
    finally:
        run.stop()


def run_sdk(args: argparse.Namespace, rate: float | None) -> dict[str, Any]:
    return asyncio.run(measure_sdk(args.n, args.workers, args.max_concurrent, args.duration,
                                   rate))


def collect(per_run: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> list[Result]:
    results = []
    for name, unit, _ in ROWS:
        for system in SYSTEMS:
            runs = [figs[name] for figs in per_run[system] if name in figs]
            if runs:
                results.append(Result(name, system, unit, runs, {
                    "n": args.n, "workers": args.workers, "max_concurrent": args.max_concurrent,
                    "task": "noop" if args.duration <= 0 else f"echo {args.duration:g} s",
                    "kubectl": " ".join(KUBECTL[args.kubectl]),
                    "per_run": [figs["details"] for figs in per_run[system]]}))
    return results


def markdown(results: Sequence[Result]) -> str:
    by = {(r.workload, r.system): r for r in results}
    lines = ["| figure | unit | operator | SDK, at once | SDK, paced as kubectl | "
             "operator/at once | operator/paced |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, unit, _ in ROWS:
        found = [by.get((name, system)) for system in SYSTEMS]
        if not any(found):
            continue
        op = found[0]
        ratios = [f"{op.summary.median / peer.summary.median:.1f}"
                  if op and peer and peer.summary.median else "" for peer in found[1:]]
        lines.append(f"| {name} | {unit} | {' | '.join(cell(r) for r in found)} | "
                     f"{' | '.join(ratios)} |")
    return "\n".join(lines) + "\n"


def cell(result: Result | None) -> str:
    if result is None:
        return ""
    s = result.summary
    return fmt(s.median) if s.n == 1 else f"{fmt(s.median)} [{fmt(s.min)}-{fmt(s.max)}]"


def meta(args: argparse.Namespace, started: float, load: tuple[float, float, float],
         errors: list[str]) -> dict[str, Any]:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=10).stdout.strip()
    return {
        "command": "python -m bench.operator_bench " + " ".join(sys.argv[1:]),
        "layout": f"operator path: etcd + kube-apiserver (tests/k8s ControlPlane, no "
                  f"controllers, no kubelet), `kubetask operator --namespace bench`, "
                  f"{args.workers} x `kubetask worker --max-concurrent {args.max_concurrent}` "
                  f"as local processes, a fresh kubetask etcd (fsync on); SDK path: the same "
                  f"workers and a `kubetask scheduler` on a fresh etcd",
        "figures": {name: what for name, _, what in ROWS},
        "commit": head, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": load, "loadavg_end": os.getloadavg()},
        "wall_seconds": round(time.monotonic() - started, 1), "errors": errors,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.operator_bench", description=__doc__)
    p.add_argument("--n", type=int, default=1000, help="Tasks per run (default 1000)")
    p.add_argument("--runs", type=int, default=3, help="runs, each path once per run (median)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--max-concurrent", type=int, default=10, help="slots per worker (default 10)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="0: noop tasks (default); > 0: echo tasks sleeping this long, so that "
                        "Running shows (a task under the worker's 20 ms start linger never "
                        "writes it); give enough slots that none waits for one")
    p.add_argument("--kubectl", choices=sorted(KUBECTL), default="apply",
                   help="how the Tasks go in: `kubectl apply` (default, client-side), "
                        "`apply --server-side`, or `create`")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON path (.md beside)")
    args = p.parse_args(argv)
    if args.n < 1 or args.runs < 1 or args.workers < 1 or args.max_concurrent < 1:
        p.error("--n, --runs, --workers and --max-concurrent must be at least 1")
    if args.duration < 0:
        p.error("--duration must be 0 (noop) or more")
    return args


def stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(f"signal {signum}: stopping (each run stops what it started)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_tools()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    started, load = time.monotonic(), os.getloadavg()
    per_run: dict[str, list[dict[str, Any]]] = {system: [] for system in SYSTEMS}
    errors: list[str] = []
    for run in range(1, args.runs + 1):
        rate: float | None = None  # the SDK paced at kubectl's rate of this run
        for system in SYSTEMS:
            if system == PACED and rate is None:
                continue  # the operator path failed: no rate to pace at
            log(f"operator bench: run {run}/{args.runs}: {system}")
            try:
                figs = (run_operator(args) if system == OPERATOR
                        else run_sdk(args, rate if system == PACED else None))
            except Exception:
                errors.append(f"run {run} {system}: {traceback.format_exc()}")
                log(f"FAILED {system} run {run}:\n{traceback.format_exc()}")
                continue
            per_run[system].append(figs)
            if system == OPERATOR:
                rate = args.n / max(figs["submit"], 1e-3)
    results = collect(per_run, args)
    print(write_results(args.out, results, meta(args, started, load, errors),
                        markdown(results)), end="")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
