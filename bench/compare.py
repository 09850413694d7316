"""A/B of two revisions or of worker settings: the e2e workload, interleaved, CPU per process.

    python -m bench.compare REV [--args-a ARGS] [--args-b ARGS] [--per-worker 8] [--rounds 3]
                            [--n 10000] [--sleep 0]
    python -m bench.compare . --sweep "--prefetch 0|--prefetch 2|--prefetch 4" [...]

This machine is shared and noisy: the same run can cost 0.65 or 0.95 ms of CPU per task
an hour apart. So a change is measured against its base in one script, alternating:
A = REV (checked out into a temporary git worktree; its processes import that tree's src
through PYTHONPATH) then B = this tree, `--rounds` times, each on a fresh etcd, 1 scheduler
and 2 workers x `--per-worker` slots, warmed up. REV `.` or `HEAD` means this tree for both
sides (uncommitted changes included), to compare worker settings: `--args-a` / `--args-b`
are extra `kubetask worker` arguments of each side. `--sweep` takes N settings separated by
`|` and measures each on this tree, interleaved the same way. Each round starts one side
later than the last (A B, B A, ...). Per run it prints tasks/s, etcd transactions per task
and CPU ms per task of each process; then each side's medians
and their ratio to the first side. The harness (bench/) is this tree's for every side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.costs import median_costs, run_line
from bench.kt.cluster import check_worker_args, split_worker_args
from bench.peers.procs import REPO_ROOT

CHILD = "--child"
THIS_TREE = (".", "HEAD")


@dataclass(frozen=True)
class Side:
    """One measured setting: a label, the src tree its processes import, extra worker args."""

    label: str
    src: Path
    worker_args: tuple[str, ...]
    what: str  # for the legend and for errors


async def _measure(per_worker: int, n: int, sleep_s: float, worker_args: Sequence[str]
                   ) -> dict[str, Any]:
    from bench.kt.throughput import warm_session  # imports kubetask: in the child only

    async with warm_session(2, per_worker, "ab", worker_args) as session:
        return await session.throughput(n, sleep_s)


def _one_run(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a child process that imports kubetask from the side's src."""
    env = {**os.environ, "PYTHONPATH": str(side.src)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.compare", CHILD, str(args.per_worker), str(args.n),
         str(args.sleep), json.dumps(list(side.worker_args))], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True,
        timeout=120 + args.n * (0.01 + 3 * args.sleep / (2 * args.per_worker)), check=False)
    if out.returncode:
        raise SystemExit(f"side {side.label} ({side.what}) failed, exit {out.returncode}:\n"
                         f"{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def schedule(sides: int, rounds: int) -> list[int]:
    """Side indexes in run order: every side once a round, each round starting one side later
    (A B, B A, A B ...), so no side always runs first after a fresh start of the others."""
    return [(r + i) % sides for r in range(rounds) for i in range(sides)]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options; SystemExit with what to fix on a bad combination."""
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev", help="the commit to compare against (A; this tree is B), or `.` / "
                   "`HEAD` for this tree on every side")
    p.add_argument("--args-a", default="", help="extra `kubetask worker` arguments of side A, "
                   "as one shell-quoted string: --args-a \"--prefetch 0\" (one word without a "
                   "space needs the = form: --args-a=--flag)")
    p.add_argument("--args-b", default="", help="the same for side B")
    p.add_argument("--sweep", help="settings separated by |, each measured on this tree "
                   "(REV must be `.`): e.g. \"--prefetch 0|--prefetch 2|--prefetch 4\"")
    p.add_argument("--per-worker", type=int, default=8, help="--max-concurrent of each worker")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n", type=int, default=10_000, help="tasks per run")
    p.add_argument("--sleep", type=float, default=0.0, help="task duration (0: no-op)")
    args = p.parse_args(argv)
    for name in ("per_worker", "rounds", "n"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.sleep < 0:
        p.error("--sleep must be 0 or more")
    if args.sweep is not None:
        if args.rev not in THIS_TREE:
            p.error(f"--sweep measures this tree: give REV as `.` (not {args.rev!r})")
        if args.args_a or args.args_b:
            p.error("--sweep replaces --args-a/--args-b: put every setting in --sweep")
        if len(args.sweep.split("|")) < 2:
            p.error("--sweep needs at least two settings separated by |")
    return args


def sides(args: argparse.Namespace, rev_src: Path | None) -> list[Side]:
    """The settings to measure, in run order (rev_src: REV's checkout, None for this tree)."""
    here = REPO_ROOT / "src"
    if args.sweep is not None:
        return [Side(f"S{i}", here, split_worker_args(text, "--sweep"), f"this tree {text!r}")
                for i, text in enumerate(args.sweep.split("|"), 1)]
    rev = args.rev if rev_src is not None else "this tree"
    return [Side("A", rev_src or here, split_worker_args(args.args_a, "--args-a"),
                 f"{rev} {args.args_a!r}"),
            Side("B", here, split_worker_args(args.args_b, "--args-b"),
                 f"this tree {args.args_b!r}")]


@contextmanager
def checkout(rev: str) -> Iterator[Path | None]:
    """REV's src in a temporary git worktree, removed afterwards; None for this tree."""
    if rev in THIS_TREE:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="kubetask-ab-") as tmp:
        tree = Path(tmp) / "a"
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach",
                              str(tree), rev], capture_output=True, text=True, check=False)
        if out.returncode:
            raise SystemExit(f"cannot check out {rev!r}: {out.stderr.strip()}")
        try:
            yield tree / "src"
        finally:
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force",
                            str(tree)], check=False, capture_output=True)


def summary(measured: Sequence[tuple[Side, Sequence[dict[str, Any]]]], rounds: int) -> str:
    """Each side's medians and their ratio to the first side, one line per figure."""
    medians = [median_costs(runs) for _, runs in measured]
    first = measured[0][0].label
    heads = "".join(f" {s.label:>9}" for s, _ in measured)
    ratios = "".join(f" {s.label + '/' + first:>7}" for s, _ in measured[1:])
    lines = [f"medians over {rounds} rounds:", f"  {'':>17}{heads}{ratios}"]
    for key in medians[0]:
        values = [m.get(key) for m in medians]
        cells = "".join(f" {v:9.3f}" if v is not None else f" {'n/a':>9}" for v in values)
        base = values[0]
        rel = "".join(f" {v / base:7.2f}" if v is not None and base else f" {'n/a':>7}"
                      for v in values[1:])
        lines.append(f"  {key:>17}{cells}{rel}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == CHILD:
        per_worker, n, sleep_s = int(argv[1]), int(argv[2]), float(argv[3])
        print(json.dumps(asyncio.run(_measure(per_worker, n, sleep_s, json.loads(argv[4])))))
        return 0
    args = parse_args(argv)
    with checkout(args.rev) as rev_src:
        plan = sides(args, rev_src)
        for side in plan:
            check_worker_args(side.worker_args, side.src, f"side {side.label} ({side.what})")
        print("\n".join(f"{side.label} = {side.what}" for side in plan), flush=True)
        measured: list[tuple[Side, list[dict[str, Any]]]] = [(s, []) for s in plan]
        for i in schedule(len(plan), args.rounds):
            side, runs = measured[i]
            runs.append(_one_run(side, args))
            print(run_line(side.label, runs[-1]), flush=True)
    print(summary(measured, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
