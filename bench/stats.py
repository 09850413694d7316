"""Summaries over runs, percentiles, and JSON / Markdown result writers."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.plan import is_c16

KUBETASK = "kubetask"


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_summary(lat_ms: Sequence[float], submitted: Sequence[float]) -> dict[str, float]:
    """p50/p99/max of submit->start latencies, with the submit rate actually achieved."""
    n = len(lat_ms)
    return {
        "p50_ms": percentile(lat_ms, 50),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": max(lat_ms),
        "achieved_rate": n / (submitted[-1] - submitted[0]) if n > 1 else 0.0,
        "n": n,
    }


@dataclass(frozen=True)
class Summary:
    """Median, min and max of one figure over several runs."""

    median: float
    min: float
    max: float
    n: int


def summarize(values: Sequence[float]) -> Summary:
    """Median/min/max over the given per-run values."""
    if not values:
        raise ValueError("summarize needs at least one value")
    return Summary(statistics.median(values), min(values), max(values), len(values))


@dataclass
class Result:
    """One (workload, system) figure with its per-run values."""

    workload: str
    system: str
    unit: str
    runs: list[float]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> Summary:
        """Median/min/max over runs."""
        return summarize(self.runs)

    def to_json(self) -> dict[str, Any]:
        """Plain dict with the summary inlined."""
        return {**asdict(self), **asdict(self.summary)}


def result_from_json(d: dict[str, Any]) -> Result:
    """Rebuild a Result from its to_json() form (summary fields are recomputed)."""
    return Result(d["workload"], d["system"], d["unit"], list(d["runs"]), dict(d.get("params", {})))


def fmt(x: float) -> str:
    """Short human figure: 3 significant digits, no exponent for usual ranges."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def is_kubetask(system: str) -> bool:
    """True for "kubetask" and its labelled variants such as "kubetask-mc10"."""
    return system == KUBETASK or system.startswith(KUBETASK + "-")


def ratio_to_kubetask(results: Iterable[Result], system: str = KUBETASK) -> dict[tuple[str, str], float]:
    """kubetask (or variant `system`) median / peer median per (workload, peer), where both exist.

    The c16 comparison is kept apart: `kubetask-mc8` is divided by the `<peer>-c16` systems
    only, and the other kubetask systems by the peers at --concurrency only.
    """
    items = list(results)
    kt = {r.workload: r.summary.median for r in items if r.system == system}
    out: dict[tuple[str, str], float] = {}
    for r in items:
        peer = r.summary.median
        same_comparison = is_c16(r.system) == is_c16(system)
        if not is_kubetask(r.system) and same_comparison and r.workload in kt and peer != 0:
            out[(r.workload, r.system)] = kt[r.workload] / peer
    return out


def markdown_table(results: Sequence[Result], ratio_systems: Sequence[str] = (KUBETASK,)) -> str:
    """Markdown table: workload, system, median, min, max, unit, one <system>/peer column each."""
    ratios = [ratio_to_kubetask(results, s) for s in ratio_systems]
    heads = "".join(f" {s}/peer |" for s in ratio_systems)
    lines = [
        f"| workload | system | median | min | max | unit |{heads}",
        "|---|---|---:|---:|---:|---|" + "---:|" * len(ratio_systems),
    ]
    for r in results:
        s = r.summary
        cells = ""
        for by_peer in ratios:
            ratio = by_peer.get((r.workload, r.system))
            cells += f" {ratio:.2f} |" if ratio is not None else "  |"
        lines.append(
            f"| {r.workload} | {r.system} | {fmt(s.median)} | {fmt(s.min)} | "
            f"{fmt(s.max)} | {r.unit} |{cells}"
        )
    return "\n".join(lines) + "\n"


def kubetask_systems(results: Iterable[Result]) -> list[str]:
    """The kubetask systems present, "kubetask" first, then variants by name."""
    found = {r.system for r in results if is_kubetask(r.system)}
    return sorted(found, key=lambda s: (s != KUBETASK, s))


def write_results(
    path: Path,
    results: Sequence[Result],
    meta: dict[str, Any] | None = None,
    markdown: str | None = None,
) -> str:
    """Write results as JSON at path and Markdown beside it (.md); return the Markdown."""
    table = markdown if markdown is not None else markdown_table(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta or {}, "results": [r.to_json() for r in results]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    path.with_suffix(".md").write_text(table)
    return table


def load_results(path: Path) -> list[Result]:
    """Read the results list of a JSON file written by write_results."""
    doc = json.loads(path.read_text())
    return [result_from_json(d) for d in doc["results"]]


def main(argv: Sequence[str]) -> int:
    """Merge result files (e.g. peers.json and kubetask.json) and print one table."""
    if not argv:
        print("usage: python -m bench.stats RESULTS.json [MORE.json ...]", file=sys.stderr)
        return 2
    merged = [r for p in argv for r in load_results(Path(p))]
    merged.sort(key=lambda r: (r.workload, not is_kubetask(r.system), r.system))
    print(markdown_table(merged, kubetask_systems(merged) or [KUBETASK]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
