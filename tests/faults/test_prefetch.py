"""Prefetched tasks of a real worker process: SIGTERM hands them back at once (no wait for
the running ones); kill -9 loses none (they run elsewhere within the lease TTL + 1 s)."""

from __future__ import annotations

import signal
import time

from kubetask.model import TaskState
from tests.faults.audit import audit
from tests.faults.system import FaultSystem, report, wait_until

TTL = 3
DETECTION_BOUND = 2 * TTL + 1  # the guarantee is TTL + 1 s; slack for a loaded machine
PREFETCH = ["--prefetch", "3", "--prefetch-hold", "60"]  # held ones stay where they are


async def _busy_with_prefetched(faults: FaultSystem, worker: str, *, lease_ttl: int,
                                shutdown_timeout: float = 5.0
                                ) -> tuple[set[str], set[str], str]:
    """`worker` (2 slots) runs two long tasks and holds three prefetched ones; returns
    (running ids, prefetched ids, the id of the quick task that earned the prefetch)."""
    faults.scheduler("s0")
    faults.worker(worker, lease_ttl=lease_ttl, max_concurrent=2,
                  shutdown_timeout=shutdown_timeout, args=PREFETCH)
    await faults.wait_workers(worker)
    await faults.wait_leader()
    # A worker prefetches once its run times are short: one quick task earns it.
    (warm,) = await faults.submit(1, {"duration": 0})
    await faults.wait_terminal([warm.id], timeout=20)
    long = {t.id for t in await faults.submit(2, {"duration": 60, "then": 0.1})}

    async def running() -> bool:
        current = await faults.tasks()
        return all(current[i].state is TaskState.RUNNING for i in long)
    await wait_until(running, timeout=20, what="2 long tasks running")
    held = {t.id for t in await faults.submit(3, {"duration": 0.1})}

    async def prefetched() -> bool:
        current = await faults.tasks()
        return all((current[i].state, current[i].worker) == (TaskState.ASSIGNED, worker)
                   for i in held)
    await wait_until(prefetched, timeout=20, what="3 tasks prefetched")
    return long, held, warm.id


async def test_sigterm_hands_prefetched_tasks_back_at_once(faults: FaultSystem) -> None:
    shutdown = 20.0
    long, held, _ = await _busy_with_prefetched(faults, "busy", lease_ttl=30,
                                                shutdown_timeout=shutdown)
    stopped_at = time.monotonic()
    faults.procs["busy"].signal(signal.SIGTERM)

    async def held_back() -> bool:
        current = await faults.tasks()
        return all(current[i].state is TaskState.PENDING for i in held)
    await wait_until(held_back, timeout=shutdown / 2, what="prefetched tasks handed back",
                     interval=0.02)
    back_after = time.monotonic() - stopped_at
    current = await faults.tasks()
    assert all(current[i].state is TaskState.RUNNING for i in long)  # still finishing

    faults.worker("next", lease_ttl=TTL)
    final = await faults.wait_terminal(held, timeout=30)
    for i in held:
        assert [(a.worker, a.outcome) for a in final[i].history] == [
            ("busy", "handed-back"), ("next", "succeeded")]
    faults.procs["busy"].kill()
    report("SIGTERM a worker holding prefetched tasks", shutdown_timeout=shutdown,
           prefetched=len(held), handed_back_after_s=back_after)


async def test_kill_9_of_a_worker_holding_prefetched_tasks_loses_none(
        faults: FaultSystem) -> None:
    long, held, warm = await _busy_with_prefetched(faults, "victim", lease_ttl=TTL)
    faults.worker("other", lease_ttl=TTL, max_concurrent=8)
    await faults.wait_workers("other")
    killed_at = time.monotonic()
    faults.procs["victim"].kill()

    async def moved() -> bool:
        current = await faults.tasks()
        return all(current[i].worker == "other" for i in held)
    await wait_until(moved, timeout=4 * TTL, what="prefetched tasks on the other worker",
                     interval=0.02)
    requeue = time.monotonic() - killed_at
    submitted = long | held | {warm}
    final = await faults.wait_terminal(submitted, timeout=60)
    verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink)
    assert all(final[i].state is TaskState.SUCCEEDED for i in submitted)
    report("kill -9 a worker holding prefetched tasks", lease_ttl=TTL, prefetched=len(held),
           requeued_after_s=requeue, **verdict.figures())
    assert requeue <= DETECTION_BOUND
