"""The whole system under steady load: real etcd, `kubetask scheduler` and two `kubetask
worker` processes, tasks submitted at a steady rate, short retention and compaction.

It passes when every task ends, every finished task is deleted within its retention
period (plus a janitor pass and a grace), etcd's live data (dbSizeInUse) levels off, and
no process logged a warning or an error. KUBETASK_SOAK_SECONDS sets how long the load
lasts (60 s by default; `make soak`: 30 min); KUBETASK_SOAK_REPORT names a JSON file for
the figures (etcd's size and every process's RSS over time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubetask.etcd_process import EtcdProcess
from tests.faults.system import FaultSystem, wait_until
from tests.soak.observe import Sampler, TaskLedger, log_problems

SECONDS = float(os.environ.get("KUBETASK_SOAK_SECONDS", "60"))
REPORT = os.environ.get("KUBETASK_SOAK_REPORT")
RATE = 50.0  # tasks submitted per second
DURATION = 0.05  # seconds each task runs (echo)
RETENTION = 5.0  # --retention
COMPACT = 5.0  # --compact-history
JANITOR = 1.0  # --janitor-interval
# A finished task is deleted by the first janitor pass after its retention ends; a pass
# and the ledger's poll may each be late by a few seconds on a busy machine.
DELETED_WITHIN = RETENTION + 2 * JANITOR + 10.0
# From then on the store holds a steady window: records of the last RETENTION seconds
# and history of the last COMPACT seconds.
WARMUP = RETENTION + COMPACT + 5 * JANITOR
POLL = 0.5
SAMPLE = 1.0 if SECONDS <= 300 else 10.0

pytestmark = pytest.mark.timeout(SECONDS + 180)


async def submit_steadily(system: FaultSystem, seconds: float) -> list[str]:
    """RATE tasks a second for `seconds` (catching up after a slow submit)."""
    ids: list[str] = []
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * RATE) - len(ids)
        if due > 0:
            tasks = await system.submit(due, {"duration": DURATION}, type_="echo")
            ids += [t.id for t in tasks]
        await asyncio.sleep(0.1)
    return ids


async def observe(ledger: TaskLedger, sampler: Sampler, stop: asyncio.Event) -> None:
    next_sample = 0.0
    while not stop.is_set():
        records = await ledger.poll()
        if time.monotonic() >= next_sample:
            await sampler.sample(records)
            next_sample = time.monotonic() + SAMPLE
        await asyncio.sleep(POLL)


async def wait_deleted(ledger: TaskLedger, ids: set[str]) -> None:
    """Until every task of `ids` was deleted, or long past when it should have been (the
    assertions then say what is missing)."""
    async def all_deleted() -> bool:
        return ledger.deleted(ids)
    with contextlib.suppress(AssertionError):
        await wait_until(all_deleted, timeout=DELETED_WITHIN + 30,
                         what="every task to be deleted", interval=POLL)


def levels_off(series: list[tuple[float, int]]) -> tuple[bool, int, int]:
    """Whether a series sampled under steady load (after warm-up) stopped growing: the peak
    of its second half is within a quarter (plus 256 KiB of bbolt page noise) of the first
    half's; and both peaks. A store that keeps what it should delete grows linearly with
    the tasks processed: with retention broken, 60 s at 50 tasks/s went from 5.8 MB to
    9.5 MB between the halves; a healthy run stays flat (1.42 MB, then 1.38 MB)."""
    half = len(series) // 2
    first = max(v for _, v in series[:half])
    second = max(v for _, v in series[half:])
    return second <= first * 1.25 + 256 * 1024, first, second


def write_report(path: str, figures: dict[str, Any], sampler: Sampler) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({**figures, "samples": sampler.samples}, indent=1) + "\n")


async def test_steady_load_ends_and_deletes_every_task_and_etcd_levels_off(
        faults: FaultSystem, etcd_member: EtcdProcess, caplog: pytest.LogCaptureFixture) -> None:
    if SECONDS < 2 * WARMUP:
        pytest.fail(f"KUBETASK_SOAK_SECONDS={SECONDS:g} is too short: the load must last at "
                    f"least {2 * WARMUP:g} s to tell a steady store from a growing one")
    system = faults
    procs = {
        "scheduler-1": system.scheduler("scheduler-1", session_ttl=5, args=[
            "--retention", str(RETENTION), "--compact-history", str(COMPACT),
            "--janitor-interval", str(JANITOR)]),
        "worker-1": system.worker("worker-1", lease_ttl=10),
        "worker-2": system.worker("worker-2", lease_ttl=10),
    }
    await system.wait_leader()
    await system.wait_workers("worker-1", "worker-2")
    assert etcd_member.process is not None
    ledger = TaskLedger(system.store, system.keys)
    sampler = Sampler(system.store, {"etcd": etcd_member.process.pid,
                                     **{name: p.pid for name, p in procs.items()},
                                     "submitter (pytest)": os.getpid()})
    stop = asyncio.Event()
    watcher = asyncio.create_task(observe(ledger, sampler, stop))
    with caplog.at_level(logging.WARNING, logger="kubetask"):
        try:
            ids = await submit_steadily(system, SECONDS)
            await wait_deleted(ledger, set(ids))
        finally:
            stop.set()
            await watcher
    exits = {name: proc.stop() for name, proc in procs.items()}

    lives = [ledger.tasks.get(i) for i in ids]
    unseen = sum(life is None for life in lives)
    states: dict[str, int] = {}
    lateness: list[float] = []
    for life in lives:
        if life is not None:
            states[str(life.state)] = states.get(str(life.state), 0) + 1
            if life.finished_at is not None and life.deleted_at is not None:
                lateness.append(life.deleted_at - life.finished_at)
    undeleted = sum(life is None or life.deleted_at is None for life in lives)
    in_use = sampler.series("db_size_in_use", after=WARMUP, until=SECONDS)
    bounded, first_peak, second_peak = levels_off(in_use)
    problems = {name: log_problems(proc.log) for name, proc in procs.items()}
    problems["etcd"] = log_problems(etcd_member.data_dir.parent / f"{etcd_member.name}.log")
    problems["test (submitter)"] = [r.getMessage() for r in caplog.records]

    figures = {
        "command": " ".join([Path(sys.executable).name, "-m", "pytest", *sys.argv[1:]]),
        "load_seconds": SECONDS, "rate": RATE, "retention": RETENTION,
        "compact_history": COMPACT, "janitor_interval": JANITOR,
        "tasks": len(ids), "states": states, "unseen": unseen, "undeleted": undeleted,
        "deleted_after_finish_max_s": round(max(lateness, default=0.0), 2),
        "db_size_in_use_peak_first_half": first_peak,
        "db_size_in_use_peak_second_half": second_peak,
        "db_size_last": sampler.samples[-1]["db_size"], "exit_codes": exits,
        "problem_lines": {k: len(v) for k, v in problems.items()},
    }
    print(f"\n[soak] {json.dumps(figures)}", flush=True)
    if REPORT:
        write_report(REPORT, figures, sampler)

    assert len(ids) >= RATE * SECONDS * 0.9
    assert unseen == 0 and states == {"succeeded": len(ids)}, states
    assert undeleted == 0, f"{undeleted} finished tasks were never deleted"
    late = [s for s in lateness if s > DELETED_WITHIN]
    assert not late, f"{len(late)} tasks deleted later than {DELETED_WITHIN}s after they ended"
    assert bounded, f"etcd's live data kept growing: {first_peak} then {second_peak} bytes"
    assert {name: [line[:300] for line in lines[:5]] for name, lines in problems.items()
            if lines} == {}
    assert exits == {name: 0 for name in procs}
