"""Issue 16's targets, each read from one run's results: goal, figure, met or not met.

Ratios come from one interleaved run (medians over its runs). The c16 rows (kubetask-mc8,
dramatiq-c16, celery-c16) are "at 16"; `kubetask` and the plain peers are at `--concurrency`
(2 slots by default, the slot count is shown). "Worker RSS flat" reads the memory workload's
curve: the largest worker's RSS after the last batch over its RSS after the first batch
(start-up and the allocator's first growth are behind it by then), at most 1.05.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.plan import C16, C16_KUBETASK, SLEEP_S
from bench.stats import KUBETASK, Result, fmt, is_kubetask

NOOP = "e2e_noop"
SLEEP = f"e2e_sleep_{SLEEP_S * 1000:g}ms"
RSS_GROWTH_MAX = 1.05  # worker RSS after the last batch / after the first: "flat"
PENDING = "dispatch_rate_pending_"


@dataclass(frozen=True)
class Reading:
    """A target's figure: the value the goal is checked on, and how it was obtained."""

    value: float
    text: str


Read = Callable[[Sequence[Result]], Reading | None]


@dataclass(frozen=True)
class Goal:
    """One target of issue 16."""

    label: str
    goal: str
    read: Read
    met: Callable[[float], bool]
    stretch: Callable[[float], bool] | None = None


def _find(results: Sequence[Result], workload: str, system: str) -> Result | None:
    return next((r for r in results if r.workload == workload and r.system == system), None)


def _slots(r: Result) -> str:
    """' (N slots)' from a kubetask row's params, when they say."""
    workers, mc = r.params.get("workers"), r.params.get("max_concurrent")
    return f" ({workers * mc} slots)" if isinstance(workers, int) and isinstance(mc, int) else ""


def ratio(workload: str, system: str, peer: str) -> Read:
    """kubetask system median / peer median of one workload."""
    def read(results: Sequence[Result]) -> Reading | None:
        kt, p = _find(results, workload, system), _find(results, workload, peer)
        if kt is None or p is None or not p.summary.median:
            return None
        a, b = kt.summary.median, p.summary.median
        return Reading(a / b, f"{a / b:.2f}x: {system}{_slots(kt)} {fmt(a)} / {peer} {fmt(b)} "
                              f"{kt.unit}")
    return read


def value(workload: str, system: str = KUBETASK) -> Read:
    """The median of one kubetask row."""
    def read(results: Sequence[Result]) -> Reading | None:
        r = _find(results, workload, system)
        if r is None:
            return None
        return Reading(r.summary.median, f"{fmt(r.summary.median)} {r.unit} ({system})")
    return read


def backlog_ratio(results: Sequence[Result]) -> Reading | None:
    """Dispatch rate at the largest pending backlog / at the smallest, one kubetask system."""
    rows = [r for r in results if is_kubetask(r.system) and r.workload.startswith(PENDING)]
    for system in dict.fromkeys(r.system for r in rows):
        rates = {int(r.workload.removeprefix(PENDING)): r.summary.median
                 for r in rows if r.system == system}
        if len(rates) >= 2:
            lo, hi = min(rates), max(rates)
            v = rates[hi] / rates[lo]
            return Reading(v, f"{v:.2f}: {system} {fmt(rates[hi])}/s at {hi:,} pending, "
                              f"{fmt(rates[lo])}/s at {lo:,}")
    return None


def _worker_max(point: dict[str, float]) -> float:
    return max(v for k, v in point.items() if k.startswith("worker-"))


def rss_growth(results: Sequence[Result]) -> Reading | None:
    """Largest worker's RSS after the last batch / after the first, median over the runs."""
    r = next((r for r in results if r.workload == "worker_rss_idle" and is_kubetask(r.system)),
             None)
    curves = [c for run in (r.params.get("per_run") or [] if r else [])
              if len(c := run.get("rss_curve_mib") or []) >= 2]
    if r is None or not curves:
        return None
    first = statistics.median(_worker_max(c[0]) for c in curves)
    last = statistics.median(_worker_max(c[-1]) for c in curves)
    tasks = curves[0][-1].get("tasks", 0)
    v = statistics.median(_worker_max(c[-1]) / _worker_max(c[0]) for c in curves)
    return Reading(v, f"{v:.3f}x: {r.system} largest worker {first:.1f} MiB after the first "
                      f"batch, {last:.1f} MiB after {tasks:,.0f} tasks")


PEER_DRAMATIQ, PEER_CELERY = f"dramatiq-{C16}", f"celery-{C16}"
GOALS = (
    Goal("e2e no-op at 16 vs Dramatiq", ">= 1.0x (stretch 1.3x)",
         ratio(NOOP, C16_KUBETASK, PEER_DRAMATIQ), lambda v: v >= 1.0, lambda v: v >= 1.3),
    Goal("e2e no-op at 16 vs Celery", ">= 3.0x", ratio(NOOP, C16_KUBETASK, PEER_CELERY),
         lambda v: v >= 3.0),
    Goal("e2e 10 ms at 16 vs Dramatiq", ">= 1.0x", ratio(SLEEP, C16_KUBETASK, PEER_DRAMATIQ),
         lambda v: v >= 1.0),
    Goal("e2e 10 ms at 2 slots vs Celery", ">= 1.0x", ratio(SLEEP, KUBETASK, "celery"),
         lambda v: v >= 1.0),
    Goal("kept: batched submit", ">= 10,000 tasks/s", value("submit_batched"),
         lambda v: v >= 10_000),
    Goal("kept: submit -> start p50 at 50/s", "<= 5 ms", value("latency_p50_50/s"),
         lambda v: v <= 5.0),
    Goal("kept: submit -> start p99 at 50/s", "<= 25 ms", value("latency_p99_50/s"),
         lambda v: v <= 25.0),
    Goal("kept: dispatch at 100k pending vs 1k", ">= 0.8 (within 20 %)", backlog_ratio,
         lambda v: v >= 0.8),
    Goal("kept: worker RSS flat over 100k tasks",
         f"last batch / first batch <= {RSS_GROWTH_MAX}", rss_growth,
         lambda v: v <= RSS_GROWTH_MAX),
)


def verdict(goal: Goal, v: float) -> str:
    """'met' or 'NOT met', with the stretch goal's outcome where there is one."""
    out = "met" if goal.met(v) else "NOT met"
    if goal.stretch is not None:
        out += ", stretch met" if goal.stretch(v) else ", stretch not met"
    return out


def targets_table(results: Sequence[Result], goals: Sequence[Goal] = GOALS) -> str:
    """Markdown: one row per goal with its figure and verdict ('n/a' when not measured)."""
    lines = ["| target | goal | figure | status |", "|---|---|---|---|"]
    for g in goals:
        reading = g.read(results)
        cells = (f"{reading.text} | {verdict(g, reading.value)}" if reading is not None
                 else "n/a (not measured in this run) | n/a")
        lines.append(f"| {g.label} | {g.goal} | {cells} |")
    return "\n".join(lines) + "\n"
