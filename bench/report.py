"""The combined Markdown report: context, the table with kubetask/peer ratios, kubetask's cost
per task, issue 16's and issue 5's targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import curve, targets16
from bench.costs import cost_table, peer_cpu_table
from bench.plan import C16, C16_KUBETASK, C16_TOTAL, is_c16
from bench.stats import Result, fmt, is_kubetask, kubetask_systems, markdown_table

Medians = dict[tuple[str, str], float]
COSTS_INTRO = (
    "Medians over the runs of each kubetask row's measured window (submit start to the last "
    "task done): etcd transactions per task (etcd revisions, one per transaction, all hops "
    "together) and CPU ms per task of each process (psutil user + system: etcd, the scheduler "
    "`sched-0`, each worker, the client in the harness; `total` is their sum).")
PEER_CPU_INTRO = (
    "The same CPU readings for the peers (no transaction count: redis has none to compare): "
    "redis-server, `workers` = every worker command with its forked children together "
    "(Dramatiq's master and its processes, each Celery worker, each RQ worker), the client "
    "in the harness, and `total`. On 2 cores, 2,000 / total bounds tasks/s.")


@dataclass(frozen=True)
class Target:
    """One goal of issue 5, evaluated on the medians of one kubetask system."""

    label: str
    goal: str
    value: Callable[[Medians, str], float | None]
    met: Callable[[float], bool]


def _ratio(workload: str, peer: str) -> Callable[[Medians, str], float | None]:
    """kubetask system median / peer median of a workload (the c16 system: vs `<peer>-c16`)."""
    def f(m: Medians, system: str) -> float | None:
        other = f"{peer}-{C16}" if is_c16(system) else peer
        kt, p = m.get((workload, system)), m.get((workload, other))
        return kt / p if kt is not None and p else None
    return f


def _value(workload: str) -> Callable[[Medians, str], float | None]:
    """The kubetask system's median of a workload."""
    return lambda m, system: m.get((workload, system))


def _backlog_ratio(m: Medians, system: str) -> float | None:
    """Dispatch rate at the largest backlog / rate at the smallest."""
    rates = {int(w.rsplit("_", 1)[1]): v for (w, s), v in m.items()
             if s == system and w.startswith("dispatch_rate_pending_")}
    if len(rates) < 2:
        return None
    return rates[max(rates)] / rates[min(rates)]


TARGETS = (
    Target("e2e_noop vs dramatiq", ">= 1.0x (stretch 1.5x)", _ratio("e2e_noop", "dramatiq"),
           lambda v: v >= 1.0),
    Target("e2e_noop vs celery", ">= 3.0x", _ratio("e2e_noop", "celery"), lambda v: v >= 3.0),
    Target("e2e_sleep_10ms vs dramatiq", ">= 1.0x", _ratio("e2e_sleep_10ms", "dramatiq"),
           lambda v: v >= 1.0),
    Target("submit_batched", ">= 10,000 tasks/s", _value("submit_batched"), lambda v: v >= 10_000),
    Target("latency_p50_50/s", "<= 5 ms", _value("latency_p50_50/s"), lambda v: v <= 5.0),
    Target("latency_p99_50/s", "<= 25 ms", _value("latency_p99_50/s"), lambda v: v <= 25.0),
    Target("dispatch rate, largest / 1,000 pending", ">= 0.8", _backlog_ratio, lambda v: v >= 0.8),
)


def _cell(t: Target, medians: Medians, system: str, systems: Sequence[str]) -> str:
    """One target cell; a figure only another kubetask system measured is borrowed, and named."""
    for source in [system, *systems]:
        v = t.value(medians, source)
        if v is not None:
            origin = "" if source == system else f" (from {source})"
            return f" {fmt(v)} {'met' if t.met(v) else 'NOT met'}{origin} |"
    return " n/a |"


def targets_table(results: Sequence[Result]) -> str:
    """Markdown table of issue 5's targets for each kubetask system."""
    medians: Medians = {(r.workload, r.system): r.summary.median for r in results}
    systems = kubetask_systems(results)
    lines = ["| target | goal |" + "".join(f" {s} |" for s in systems),
             "|---|---|" + "---|" * len(systems)]
    for t in TARGETS:
        cells = "".join(_cell(t, medians, s, systems) for s in systems)
        lines.append(f"| {t.label} | {t.goal} |{cells}")
    return "\n".join(lines) + "\n"


def order(results: Sequence[Result]) -> list[Result]:
    """Rows by first-seen workload, the c16 comparison after the others, then kubetask systems,
    then peers by name."""
    first = list(dict.fromkeys(r.workload for r in results))
    return sorted(results, key=lambda r: (first.index(r.workload), is_c16(r.system),
                                          not is_kubetask(r.system),
                                          r.system != "kubetask", r.system))


def _first_last(error: str) -> str:
    """First and last line of an error text (where it happened, what it was)."""
    lines = error.strip().splitlines()
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def _load(values: Sequence[float] | None) -> str:
    """Load averages as '1.23/0.98/0.50'."""
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _c16_lines(results: Sequence[Result], meta: dict[str, Any]) -> list[str]:
    """The bullet describing the c16 comparison, if any of its rows are present."""
    present = sorted({r.system for r in results if is_c16(r.system)},
                     key=lambda s: (not is_kubetask(s), s))
    if not present:
        return []
    layouts = {C16_KUBETASK: meta.get("kubetask", {}).get("c16_layout", "?"),
               **meta.get("peers", {}).get("c16_layouts", {})}
    systems = "; ".join(f"`{s}` = {layouts.get(s, '?')}" for s in present)
    return [
        f"- {C16} comparison, equal total concurrency {C16_TOTAL} near each system's defaults "
        f"(e2e_noop and e2e_sleep_10ms only, rows after the others): {systems}. "
        f"Only the `{C16_KUBETASK}/peer` column divides by the `-{C16}` peers, and it divides "
        f"by nothing else; in the targets table the `{C16_KUBETASK}` column compares with "
        f"`dramatiq-{C16}` and `celery-{C16}`.",
    ]


def render(results: Sequence[Result], meta: dict[str, Any]) -> str:
    """The whole results.md."""
    kt, m = meta.get("kubetask", {}), meta.get("machine", {})
    etcd = kt.get("etcd", {})
    lines = [
        f"# Benchmark: kubetask vs Celery, Dramatiq, RQ ({meta.get('mode')} mode)",
        "",
        f"- date {meta.get('date')}, {meta.get('runs')} run(s): median with min/max, "
        f"wall {meta.get('wall_seconds')} s",
        f"- machine: {m.get('cpus')} CPUs, {m.get('platform')}; load average (1/5/15 min) "
        f"at start {_load(m.get('loadavg_start'))}, at end {_load(m.get('loadavg_end'))} "
        "(high values mean other work shared the cores)",
        f"- kubetask {kt.get('commit', '?')}: {kt.get('layout', '')}",
        f"- etcd: {etcd.get('version', '?')}; {etcd.get('settings', '')}; data dir on "
        f"{etcd.get('data_dir_filesystem', '?')}",
        f"- peers: {meta.get('peers', {}).get('concurrency_meaning', 'not run')}; "
        f"versions {meta.get('peers', {}).get('versions', {})}",
        "- `kubetask` = 2 workers x `--max-concurrent` equal to the peers' per-process "
        "concurrency; `kubetask-mcN` = 2 workers x `--max-concurrent N` (10 is kubetask's "
        "default). dispatch_rate_* and the memory rows are kubetask-only.",
        *_c16_lines(results, meta),
        "- ratios: tasks/s above 1 means kubetask is faster; ms below 1 means kubetask is better.",
        "",
    ]
    if results:
        lines += [markdown_table(results, kubetask_systems(results))]
        costs, peer_cpu = cost_table(results), peer_cpu_table(results)
        if costs:
            lines += ["## kubetask: cost per task", "", COSTS_INTRO, "", costs]
        if peer_cpu:
            lines += ["## Peers: CPU per task", "", PEER_CPU_INTRO, "", peer_cpu]
        lines += ["## Issue 16 targets", "", targets16.targets_table(results),
                  "## Targets (issue 5)", "", targets_table(results)]
    if meta.get("curve"):
        lines.append(curve.render(meta["curve"]))
    errors = meta.get("errors") or []
    if errors:
        lines += ["## Errors", "", *[f"- {_first_last(e)}" for e in errors], ""]
    return "\n".join(lines)
