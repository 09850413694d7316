"""What a task costs in a kubetask run: CPU ms per process and etcd transactions, per run and
as medians over runs.

`bench.kt.throughput.Session.throughput` measures them (psutil CPU of etcd, the scheduler,
each worker and the client; etcd revisions, one per transaction, over the tasks);
`bench.compare` prints them per run and per side, `bench.report` tables them per kubetask row.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import Result, is_kubetask

CPU = "cpu_ms_per_task"
TXN = "etcd_txn_per_task"
RATE = "tasks_per_s"


def has_costs(run: Mapping[str, Any]) -> bool:
    """True when one run's details carry CPU per process and transactions per task."""
    return isinstance(run.get(CPU), Mapping) and TXN in run


def processes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Process names of the runs' CPU readings: etcd, schedulers, workers, client, total."""
    names = {name for r in runs for name in r[CPU]}
    rank = {"etcd": 0, "client": 3, "total": 4}
    return sorted(names, key=lambda n: (rank.get(n, 1 if n.startswith("sched") else 2), n))


def median_costs(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """tasks/s, etcd transactions per task and CPU ms per task of each process: the median
    over the runs of each (a process missing from a run is left out of that median)."""
    if not runs:
        raise ValueError("median_costs needs at least one run")
    out = {RATE: statistics.median(r[RATE] for r in runs),
           TXN: statistics.median(r[TXN] for r in runs)}
    for name in processes(runs):
        out[name] = statistics.median(r[CPU][name] for r in runs if name in r[CPU])
    return out


def run_line(label: str, run: Mapping[str, Any]) -> str:
    """One run on one line: tasks/s, transactions per task, CPU ms per task of each process."""
    cpu = " ".join(f"{k} {v:.3f}" for k, v in run[CPU].items())
    return f"{label:>5}: {run[RATE]:7.0f} tasks/s  txn/task {run[TXN]:.3f}  cpu ms/task: {cpu}"


def _runs_with_costs(result: Result) -> list[Mapping[str, Any]]:
    """The per-run details of a kubetask row when every run carries costs, else []."""
    runs = result.params.get("per_run") or []
    if not is_kubetask(result.system) or not runs or not all(has_costs(r) for r in runs):
        return []
    return list(runs)


def cost_table(results: Sequence[Result]) -> str:
    """Markdown: per kubetask row with costs, median tasks/s, etcd transactions per task and
    CPU ms per task of each process, one column each (empty string when no row has them)."""
    rows = [(r, _runs_with_costs(r)) for r in results]
    rows = [(r, runs) for r, runs in rows if runs]
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
