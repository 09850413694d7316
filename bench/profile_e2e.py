"""Profile the e2e no-op workload: scheduler and workers under cProfile; top functions per process.

    python -m bench.profile_e2e [--n 10000] [--max-concurrent 1] [--top 15] [--out DIR]

Prints, per process, CPU ms per task (psutil, whole process, all threads) and the top
functions of the main thread (cProfile) by self time (blocking waits such as epoll left
out) and by cumulative time (kubetask's own functions), in microseconds per task of the
whole run (each worker runs about n / workers of them).
The processes run under bench.kt.profiled, which profiles only the measured window
(SIGUSR1 .. SIGUSR2). The .prof files stay in --out (pstats, snakeviz). cProfile slows
Python code down: read shares, not absolute rates. For `async def` functions cProfile's
ncalls counts resumptions (one per suspension at an await, plus one), not calls.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.costs import CpuMeter
from bench.kt.cluster import NAMESPACE, Cluster
from bench.kt.measure import (
    BenchClient,
    noop_specs,
    succeeded_count,
    wait_ready,
    wait_succeeded,
)

PROFILE_WRAP = ("-m", "bench.kt.profiled", "{dir}/{name}.prof")
_PATH_MARKERS = ("site-packages/", "/src/", "/lib/python3.11/")
IDLE = frozenset({  # blocking waits: wall time, not CPU
    "<method 'poll' of 'select.epoll' objects>",
    "<built-in method time.sleep>",
    "<method 'acquire' of '_thread.lock' objects>",
})


def short(file: str, line: int, func: str) -> str:
    """file:line(func) with the path cut to the package-relative part."""
    if file == "~":
        return func
    for marker in _PATH_MARKERS:
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file}:{line}({func})"


def _entries(path: Path) -> dict[tuple[str, int, str], tuple[Any, ...]]:
    """pstats entries: (file, line, func) -> (cc, ncalls, tottime, cumtime, callers)."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = vars(pstats.Stats(str(path)))["stats"]
    return raw


def busy_idle(path: Path) -> tuple[float, float]:
    """Main-thread seconds spent in Python/C calls, and seconds blocked waiting (epoll, sleep)."""
    idle = busy = 0.0
    for (_, _, func), entry in _entries(path).items():
        if func in IDLE:
            idle += entry[2]
        else:
            busy += entry[2]
    return busy, idle


def top_rows(path: Path, n_tasks: int, sort: str, top: int) -> list[str]:
    """Top rows by 'self' (tottime, waiting excluded) or 'cum' (cumtime, kubetask code only)."""
    items = [(k, v) for k, v in _entries(path).items() if k[2] not in IDLE]
    if sort == "cum":
        items = [(k, v) for k, v in items if "/kubetask/" in k[0] and k[2] != "<module>"]
    idx = 2 if sort == "self" else 3
    rows = sorted(items, key=lambda kv: kv[1][idx], reverse=True)[:top]
    out = [f"{'ncalls':>10} {'self s':>8} {'self us/task':>12} {'cum s':>8} {'cum us/task':>11}  function"]
    for key, (_, nc, tt, ct, _) in rows:
        out.append(f"{nc:>10} {tt:>8.3f} {tt * 1e6 / n_tasks:>12.1f} {ct:>8.3f} "
                   f"{ct * 1e6 / n_tasks:>11.1f}  {short(*key)}")
    return out


def _signal_profiled(cluster: Cluster, sig: int) -> None:
    """Send sig to the scheduler and worker processes (not etcd)."""
    for name, pid in cluster.pids().items():
        if name != "etcd":
            os.kill(pid, sig)


async def _wait_files(paths: list[Path], deadline_s: float = 30.0) -> None:
    """Until every profile file has been written."""
    deadline = time.monotonic() + deadline_s
    while not all(p.exists() and p.stat().st_size for p in paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"profiles not written: {[str(p) for p in paths if not p.exists()]}")
        await asyncio.sleep(0.1)


async def _workload(cluster: Cluster, n: int, workers: int, per_worker: int,
                    client_prof: cProfile.Profile) -> dict[str, Any]:
    """Warm up, then profile submitting n no-ops and waiting for all; CPU per task per process."""
    warm = 4 * workers * per_worker
    async with BenchClient(cluster.endpoint, namespace=NAMESPACE) as client:
        await wait_ready(client, workers, 60.0, cluster.check_alive)
        await client.submit_many(noop_specs(warm))
        await wait_succeeded(client, warm, 60.0, cluster.check_alive)
        base = await succeeded_count(client)
        meter = CpuMeter(cluster.pids())
        _signal_profiled(cluster, signal.SIGUSR1)
        await asyncio.sleep(0.2)  # let the handlers run before the clock starts
        meter.start()
        client_prof.enable()
        t0 = time.perf_counter()
        await client.submit_many(noop_specs(n))
        await wait_succeeded(client, base + n, 120.0 + n * 0.05, cluster.check_alive)
        seconds = time.perf_counter() - t0
        client_prof.disable()
        cpu = meter.per_task_ms(n)
        _signal_profiled(cluster, signal.SIGUSR2)
        names = [name for name in cluster.pids() if name != "etcd"]
        await _wait_files([cluster.workdir / f"{name}.prof" for name in names])
        return {"seconds": seconds, "tasks_per_s": n / seconds, "cpu_ms_per_task": cpu}


def profile(n: int, workers: int, per_worker: int, out: Path) -> dict[str, Any]:
    """Run the profiled workload; .prof files for every process end up in out."""
    out.mkdir(parents=True, exist_ok=True)
    client_prof = cProfile.Profile()
    with Cluster("profile", wrap=PROFILE_WRAP) as cluster:
        cluster.start_scheduler()
        cluster.start_workers(workers, per_worker)
        result = asyncio.run(_workload(cluster, n, workers, per_worker, client_prof))
        for prof in cluster.workdir.glob("*.prof"):
            prof.replace(out / prof.name)
    client_prof.dump_stats(str(out / "client.prof"))
    return result


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.profile_e2e", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="no-op tasks to run (after a warm-up)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-concurrent", type=int, default=1, help="per worker (bench: 1; default 10)")
    p.add_argument("--top", type=int, default=15, help="functions listed per process and sort")
    p.add_argument("--out", type=Path, help="where the .prof files go (default: a new temp dir)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile, then print the per-process tables."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="kubetask-profile-"))
    result = profile(args.n, args.workers, args.max_concurrent, out)
    print(f"e2e no-op under cProfile: {args.n} tasks, {args.workers} workers x --max-concurrent "
          f"{args.max_concurrent}: {result['tasks_per_s']:.0f} tasks/s ({result['seconds']:.2f}s)")
    print(f"CPU ms per task (psutil, whole process incl. threads, profiler on): {result['cpu_ms_per_task']}")
    for path in sorted(out.glob("*.prof")):
        busy, idle = busy_idle(path)
        print(f"\n## {path.stem}: main thread busy {busy:.2f}s ({busy * 1e6 / args.n:.0f} us/task), "
              f"blocked waiting {idle:.2f}s")
        for sort in ("self", "cum"):
            print(f"\n== {path.stem}: top {args.top} by {sort} time ==")
            print("\n".join(top_rows(path, args.n, sort, args.top)))
    print(f"\nprofiles kept in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
