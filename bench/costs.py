"""What a task costs: CPU ms per process (and, for kubetask, etcd transactions), measured per
run and summed up as medians over runs.

`CpuMeter` reads psutil CPU times. `bench.kt.throughput.Session.throughput` uses it for etcd,
the scheduler, each worker and the client, and counts etcd revisions (one per transaction);
the peers' `Session.throughput` for redis-server, each worker command (with its forked
children) and the client. `bench.compare` prints them per run and side, `bench.report`
tables them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import psutil

from bench.stats import Result, is_kubetask

CPU = "cpu_ms_per_task"
TXN = "etcd_txn_per_task"
RATE = "tasks_per_s"


class CpuMeter:
    """CPU seconds used by named processes between start() and per_task_ms(); with
    children=True a name also counts the child processes it has at start() (Dramatiq's
    forked workers); a process that exits in between counts up to its last reading."""

    def __init__(self, pids: Mapping[str, int], children: bool = False) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.procs["client"] = psutil.Process(os.getpid())
        self.children = children
        self.tree: dict[str, list[psutil.Process]] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.before: dict[str, float] = {}

    def _members(self, name: str) -> list[psutil.Process]:
        proc = self.procs[name]
        if name not in self.tree:
            kids = proc.children(recursive=True) if self.children and name != "client" else []
            self.tree[name] = [proc, *kids]
        return self.tree[name]

    def _reading(self, name: str) -> float:
        """user + system CPU seconds of one name's processes now."""
        total = 0.0
        for proc in self._members(name):
            try:
                t = proc.cpu_times()
                self.last[(name, proc.pid)] = t.user + t.system
            except psutil.NoSuchProcess:
                pass
            total += self.last.get((name, proc.pid), 0.0)
        return total

    def _now(self) -> dict[str, float]:
        """user + system CPU seconds of every name now."""
        return {name: self._reading(name) for name in self.procs}

    def start(self) -> None:
        """Take the starting reading."""
        self.before = self._now()

    def add_new(self, pids: Mapping[str, int]) -> None:
        """Also count processes started after start(), from their birth (start-up included)."""
        for name, pid in pids.items():
            if name not in self.procs:
                self.procs[name] = psutil.Process(pid)
                self.before[name] = 0.0

    def per_task_ms(self, n: int) -> dict[str, float]:
        """CPU milliseconds per task of each name since start(), plus the total."""
        after = self._now()
        out = {k: round((after[k] - self.before[k]) * 1000.0 / n, 4) for k in after}
        out["total"] = round(sum(out.values()), 4)
        return out


def has_costs(run: Mapping[str, Any], txn: bool = True) -> bool:
    """True when one run's details carry CPU per process (and transactions per task)."""
    return isinstance(run.get(CPU), Mapping) and (TXN in run or not txn)


def processes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Process names of the runs' CPU readings: the store (etcd, redis), schedulers, workers,
    client, total."""
    names = {name for r in runs for name in r[CPU]}
    rank = {"etcd": 0, "redis": 0, "client": 3, "total": 4}
    return sorted(names, key=lambda n: (rank.get(n, 1 if n.startswith("sched") else 2), n))


def median_costs(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """tasks/s, etcd transactions per task (when every run has them) and CPU ms per task of
    each process: the median over the runs of each (a process missing from a run is left out
    of that median)."""
    if not runs:
        raise ValueError("median_costs needs at least one run")
    out = {RATE: statistics.median(r[RATE] for r in runs)}
    if all(TXN in r for r in runs):
        out[TXN] = statistics.median(r[TXN] for r in runs)
    for name in processes(runs):
        out[name] = statistics.median(r[CPU][name] for r in runs if name in r[CPU])
    return out


def run_line(label: str, run: Mapping[str, Any]) -> str:
    """One run on one line: tasks/s, transactions per task, CPU ms per task of each process."""
    cpu = " ".join(f"{k} {v:.3f}" for k, v in run[CPU].items())
    return f"{label:>5}: {run[RATE]:7.0f} tasks/s  txn/task {run[TXN]:.3f}  cpu ms/task: {cpu}"


def _rows(results: Sequence[Result], kubetask: bool) -> list[tuple[Result, list[Any]]]:
    """(row, its per-run details) for kubetask rows with costs, or peer rows with CPU."""
    out = []
    for r in results:
        runs = list(r.params.get("per_run") or [])
        if is_kubetask(r.system) == kubetask and runs and all(has_costs(x, kubetask) for x in runs):
            out.append((r, runs))
    return out


def cost_table(results: Sequence[Result]) -> str:
    """Markdown: per kubetask row with costs, median tasks/s, etcd transactions per task and
    CPU ms per task of each process, one column each (empty string when no row has them)."""
    rows = _rows(results, kubetask=True)
    if not rows:
        return ""
    names = processes([run for _, runs in rows for run in runs])
    lines = ["| workload | system | tasks/s | etcd txn/task |" + "".join(f" {n} |" for n in names),
             "|---|---|---:|---:|" + "---:|" * len(names)]
    for r, runs in rows:
        m = median_costs(runs)
        cpu = "".join(f" {m[n]:.3f} |" if n in m else " |" for n in names)
        lines.append(f"| {r.workload} | {r.system} | {m[RATE]:,.0f} | {m[TXN]:.3f} |{cpu}")
    return "\n".join(lines) + "\n"


def _workers_sum(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run's details with its worker-N readings summed into one `workers` reading."""
    cpu = run[CPU]
    summed = {k: v for k, v in cpu.items() if not k.startswith("worker-")}
    summed["workers"] = sum(v for k, v in cpu.items() if k.startswith("worker-"))
    return {**run, CPU: summed}


def peer_cpu_table(results: Sequence[Result]) -> str:
    """Markdown: per peer row with CPU readings, median tasks/s and CPU ms per task of
    redis-server, all worker processes together, the client and the total ('' if none)."""
    rows = _rows(results, kubetask=False)
    if not rows:
        return ""
    names = ("redis", "workers", "client", "total")
    lines = ["| workload | system | tasks/s |" + "".join(f" {n} |" for n in names),
             "|---|---|---:|" + "---:|" * len(names)]
    for r, runs in rows:
        m = median_costs([_workers_sum(run) for run in runs])
        cpu = "".join(f" {m[n]:.3f} |" if n in m else " |" for n in names)
        lines.append(f"| {r.workload} | {r.system} | {m[RATE]:,.0f} |{cpu}")
    return "\n".join(lines) + "\n"
