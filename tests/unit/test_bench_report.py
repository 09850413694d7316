"""The benchmark report's issue 16 targets and kubetask cost table, on made-up results (no I/O)."""

from __future__ import annotations

from typing import Any

from bench.costs import cost_table, peer_cpu_table
from bench.report import render
from bench.stats import Result
from bench.targets16 import GOALS, targets_table


def _kt(workload: str, system: str, value: float, unit: str = "tasks/s",
        per_run: list[dict[str, Any]] | None = None, mc: int = 8) -> Result:
    return Result(workload, system, unit, [value],
                  {"workers": 2, "max_concurrent": mc, "per_run": per_run or [{}]})


def _peer(workload: str, system: str, value: float) -> Result:
    return Result(workload, system, "tasks/s", [value])


def _curve(first: float, last: float) -> list[dict[str, Any]]:
    return [{"rss_curve_mib": [{"tasks": 10_000, "worker-0": first, "worker-1": 1.0, "etcd": 900},
                               {"tasks": 100_000, "worker-0": 1.0, "worker-1": last}]}]


def _rows(table: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def _results(noop_mc8: float, rss_last: float) -> list[Result]:
    return [
        _kt("e2e_noop", "kubetask-mc8", noop_mc8),
        _peer("e2e_noop", "dramatiq-c16", 2_000.0),
        _peer("e2e_noop", "celery-c16", 1_000.0),
        _kt("e2e_sleep_10ms", "kubetask", 150.0, mc=1),
        _peer("e2e_sleep_10ms", "celery", 200.0),
        _kt("submit_batched", "kubetask", 12_000.0),
        _kt("latency_p50_50/s", "kubetask", 6.0, "ms"),
        _kt("latency_p99_50/s", "kubetask", 20.0, "ms"),
        _kt("dispatch_rate_pending_1000", "kubetask-mc10", 2_000.0),
        _kt("dispatch_rate_pending_100000", "kubetask-mc10", 1_700.0),
        _kt("worker_rss_idle", "kubetask-mc10", 40.0, "MiB", _curve(50.0, rss_last)),
    ]


def test_each_target_is_computed_from_the_results() -> None:
    rows = _rows(targets_table(_results(2_800.0, 51.0)))
    assert len(rows) == len(GOALS)
    noop = rows["e2e no-op at 16 vs Dramatiq"]
    assert noop[1].startswith("1.40x") and noop[2] == "met, stretch met"
    assert rows["e2e no-op at 16 vs Celery"][1].startswith("2.80x")
    assert rows["e2e no-op at 16 vs Celery"][2] == "NOT met"
    assert rows["e2e 10 ms at 16 vs Dramatiq"][1:] == ["n/a (not measured in this run)", "n/a"]
    slots2 = rows["e2e 10 ms at 2 slots vs Celery"]
    assert "0.75x" in slots2[1] and "(2 slots)" in slots2[1] and slots2[2] == "NOT met"
    assert rows["kept: batched submit"][2] == "met"
    assert rows["kept: submit -> start p50 at 50/s"][2] == "NOT met"
    assert rows["kept: submit -> start p99 at 50/s"][2] == "met"
    assert rows["kept: dispatch at 100k pending vs 1k"][1].startswith("0.85")
    rss = rows["kept: worker RSS flat over 100k tasks"]
    assert rss[1].startswith("1.020x") and rss[2] == "met"


def test_verdicts_follow_the_figures() -> None:
    rows = _rows(targets_table(_results(2_200.0, 60.0)))
    assert rows["e2e no-op at 16 vs Dramatiq"][2] == "met, stretch not met"
    assert rows["kept: worker RSS flat over 100k tasks"][2] == "NOT met"  # 60 / 50 = 1.2x


def test_cost_table_takes_medians_for_kubetask_rows_only() -> None:
    runs = [{"tasks_per_s": r, "etcd_txn_per_task": t, "cpu_ms_per_task": {
        "etcd": e, "worker-0": w, "client": 0.1, "total": e + w + 0.1}}
        for r, t, e, w in ((1_000, 1.0, 0.5, 0.2), (3_000, 3.0, 0.7, 0.4), (2_000, 2.0, 0.6, 0.3))]
    results = [_kt("e2e_noop", "kubetask-mc8", 2_000.0, per_run=runs),
               _peer("e2e_noop", "dramatiq-c16", 2_000.0),
               _kt("submit_batched", "kubetask", 12_000.0)]
    lines = cost_table(results).splitlines()
    assert lines[0] == "| workload | system | tasks/s | etcd txn/task | etcd | worker-0 | client | total |"
    assert lines[2:] == ["| e2e_noop | kubetask-mc8 | 2,000 | 2.000 | 0.600 | 0.300 | 0.100 | 1.000 |"]
    assert cost_table(results[1:]) == ""
    report = render(results, {})
    assert "## kubetask: cost per task" in report and "## Issue 16 targets" in report


def test_peer_cpu_table_sums_the_worker_processes() -> None:
    runs = [{"tasks_per_s": r, "n": 10, "cpu_ms_per_task": {
        "redis": 0.2, "worker-0": w, "worker-1": w, "client": 0.1, "total": 0.3 + 2 * w}}
        for r, w in ((1_000, 0.5), (1_500, 0.7), (1_200, 0.6))]
    results = [Result("e2e_noop", "dramatiq-c16", "tasks/s", [1_200.0], {"per_run": runs}),
               Result("e2e_noop", "celery-c16", "tasks/s", [900.0], {"per_run": [{"n": 10}]}),
               _kt("e2e_noop", "kubetask-mc8", 2_000.0)]
    lines = peer_cpu_table(results).splitlines()
    assert lines[0] == "| workload | system | tasks/s | redis | workers | client | total |"
    assert lines[2:] == ["| e2e_noop | dramatiq-c16 | 1,200 | 0.200 | 1.200 | 0.100 | 1.500 |"]
    assert peer_cpu_table(results[1:]) == ""
    assert "## Peers: CPU per task" in render(results, {})
