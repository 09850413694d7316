"""bench.compare's options and sides, and the per-task cost medians, without I/O."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench.compare import parse_args, schedule, sides, summary
from bench.costs import median_costs, processes
from bench.kt.cluster import split_worker_args
from bench.kubetask_bench import add_kubetask_options, plan_and_options


def _run(rate: float, txn: float, **cpu: float) -> dict[str, object]:
    return {"tasks_per_s": rate, "etcd_txn_per_task": txn, "cpu_ms_per_task": cpu}


def test_this_tree_with_worker_args_per_side() -> None:
    args = parse_args([".", "--args-a", "--prefetch 0", "--args-b", "--prefetch 4"])
    a, b = sides(args, None)
    assert a.src == b.src
    assert (a.worker_args, b.worker_args) == (("--prefetch", "0"), ("--prefetch", "4"))


def test_a_revision_runs_its_own_src_on_side_a() -> None:
    a, b = sides(parse_args(["HEAD~3"]), Path("/tmp/a/src"))
    assert a.src == Path("/tmp/a/src") and b.src != a.src
    assert a.worker_args == b.worker_args == ()


def test_sweep_measures_each_setting_on_this_tree() -> None:
    plan = sides(parse_args([".", "--sweep", "--prefetch 0|--prefetch 2|"]), None)
    assert [s.label for s in plan] == ["S1", "S2", "S3"]
    assert [s.worker_args for s in plan] == [("--prefetch", "0"), ("--prefetch", "2"), ()]


@pytest.mark.parametrize("argv", [
    ["HEAD~1", "--sweep", "--prefetch 0|--prefetch 2"],  # a sweep is of this tree only
    [".", "--sweep", "--prefetch 0"],  # one setting is no sweep
    [".", "--sweep", "a|b", "--args-a", "--prefetch 0"],
    [".", "--rounds", "0"],
])
def test_bad_combinations_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


@pytest.mark.parametrize("text", ["--max-concurrent 4", "--queue=other", '"--prefetch 4'])
def test_worker_args_the_harness_sets_or_unbalanced_quotes_are_refused(text: str) -> None:
    with pytest.raises(SystemExit, match="--args-b"):
        split_worker_args(text, "--args-b")


def test_median_costs_per_process_and_ratio_summary() -> None:
    runs = [_run(100.0, 2.0, etcd=1.0, **{"sched-0": 0.5}, total=1.5),
            _run(300.0, 4.0, etcd=3.0, **{"sched-0": 0.7}, total=3.7),
            _run(200.0, 3.0, etcd=2.0, total=2.0)]
    m = median_costs(runs)
    assert m == {"tasks_per_s": 200.0, "etcd_txn_per_task": 3.0, "etcd": 2.0, "sched-0": 0.6,
                 "total": 2.0}
    assert processes([_run(1, 1, client=1, total=1, **{"worker-1": 1, "worker-0": 1},
                           etcd=1, **{"sched-0": 1})]) == [
        "etcd", "sched-0", "worker-0", "worker-1", "client", "total"]
    plan = sides(parse_args([".", "--sweep", "x|y"]), None)
    text = summary([(plan[0], runs[:1]), (plan[1], runs[1:2])], 1)
    assert "S2/S1" in text and "3.00" in text  # 300 / 100 tasks/s


def _bench_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_kubetask_options(p)
    return p.parse_args(list(argv))


def test_kubetask_worker_args_go_to_the_c16_group_only_when_it_runs() -> None:
    _, opts = plan_and_options(_bench_args("--quick"))
    assert opts.c16_worker_args == ()
    with pytest.raises(SystemExit, match="leaves out"):
        plan_and_options(_bench_args("--groups", "e2e", "--kubetask-worker-args", "--prefetch 4"))
    with pytest.raises(SystemExit, match="set by the harness"):
        plan_and_options(_bench_args("--kubetask-worker-args", "--max-concurrent 2"))


def test_every_round_runs_each_side_once_starting_one_later() -> None:
    assert schedule(2, 3) == [0, 1, 1, 0, 0, 1]
    assert schedule(3, 2) == [0, 1, 2, 1, 2, 0]
