"""A/B against another commit: the e2e workload on both, interleaved, CPU per process.

    python -m bench.compare REV [--per-worker 8] [--rounds 3] [--n 10000] [--sleep 0]

This machine is shared and noisy: the same run can cost 0.65 or 0.95 ms of CPU per task
an hour apart. So a change is measured against its base in one script, alternating:
REV (checked out into a temporary git worktree; its processes import that tree's src
through PYTHONPATH) then this tree, `--rounds` times, each on a fresh etcd, 1 scheduler
and 2 workers x `--per-worker` slots, warmed up. Per run it prints tasks/s, etcd
transactions per task and CPU ms per task of each process; then the medians of both
sides and their ratio. The harness (bench/) is this tree's for both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.peers.procs import REPO_ROOT

CHILD = "--child"


async def _measure(per_worker: int, n: int, sleep_s: float) -> dict[str, Any]:
    from bench.kt.throughput import warm_session  # imports kubetask: in the child only

    async with warm_session(2, per_worker, "ab") as session:
        return await session.throughput(n, sleep_s)


def _one_run(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a child process that imports kubetask from `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.compare", CHILD, str(args.per_worker), str(args.n),
         str(args.sleep)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=120 + args.n * (0.01 + 3 * args.sleep / (2 * args.per_worker)), check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _line(label: str, r: dict[str, Any]) -> str:
    cpu = " ".join(f"{k} {v:.3f}" for k, v in r["cpu_ms_per_task"].items())
    return (f"{label:>5}: {r['tasks_per_s']:7.0f} tasks/s  txn/task {r['etcd_txn_per_task']:.3f}"
            f"  cpu ms/task: {cpu}")


def _medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    out = {"tasks_per_s": statistics.median(r["tasks_per_s"] for r in runs)}
    for key in runs[0]["cpu_ms_per_task"]:
        out[key] = statistics.median(r["cpu_ms_per_task"][key] for r in runs)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == CHILD:
        per_worker, n, sleep_s = int(argv[1]), int(argv[2]), float(argv[3])
        print(json.dumps(asyncio.run(_measure(per_worker, n, sleep_s))))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev", help="the commit to compare against (A); this tree is B")
    p.add_argument("--per-worker", type=int, default=8, help="--max-concurrent of each worker")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n", type=int, default=10_000, help="tasks per run")
    p.add_argument("--sleep", type=float, default=0.0, help="task duration (0: no-op)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kubetask-ab-") as tmp:
        tree = Path(tmp) / "a"
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(tree),
                        args.rev], check=True, capture_output=True)
        try:
            sides: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
            for _ in range(args.rounds):
                for label, src in (("A", tree / "src"), ("B", REPO_ROOT / "src")):
                    sides[label].append(_one_run(src, args))
                    print(_line(label, sides[label][-1]), flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force",
                            str(tree)], check=False, capture_output=True)
    a, b = _medians(sides["A"]), _medians(sides["B"])
    print(f"medians over {args.rounds} rounds, A = {args.rev}, B = this tree:")
    for key in a:
        print(f"  {key:>12}: A {a[key]:9.3f}  B {b[key]:9.3f}  B/A {b[key] / a[key]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
