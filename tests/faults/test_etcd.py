"""etcd faults: the cluster leader killed mid-burst, the whole cluster down for 20 s, and
compaction while a process's watches are down."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.request

import pytest

from kubetask.client import TaskSpec
from kubetask.errors import KubetaskError
from kubetask.etcd_process import EtcdProcess
from kubetask.model import TaskState
from tests.faults.audit import audit
from tests.faults.proxy import Proxy
from tests.faults.system import QUEUE, FaultSystem, report, wait_until


def etcd_leader(members: list[EtcdProcess]) -> EtcdProcess:
    """The member that is the raft leader (asks each member through its JSON gateway)."""
    for member in members:
        request = urllib.request.Request(f"http://{member.endpoint}/v3/maintenance/status",
                                         data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=2) as response:
            status = json.load(response)
        if status["leader"] == status["header"]["member_id"]:
            return member
    raise AssertionError("no etcd member says it leads")


async def test_etcd_leader_killed_during_a_submission_burst(
        faults: FaultSystem, etcd_cluster: list[EtcdProcess],
        caplog: pytest.LogCaptureFixture) -> None:
    faults.scheduler("s0", session_ttl=5)
    for name in ("w0", "w1"):
        faults.worker(name, lease_ttl=5, max_concurrent=16)
    await faults.wait_workers("w0", "w1")
    await faults.wait_leader()

    total, writers = 480, 16
    returned: dict[str, str] = {}  # idempotency key -> task id returned to the submitter
    finished_at: list[float] = []
    latencies: list[float] = []
    errors: list[str] = []

    async def submit_one(key: str) -> None:
        deadline = time.monotonic() + 30
        while True:  # what any careful client does: retry with the same idempotency key
            start = time.monotonic()
            try:
                task = await faults.client.submit("fault", {"duration": 0.05}, key=key)
            except KubetaskError as exc:
                errors.append(f"{key}: {exc}")
                assert time.monotonic() < deadline, f"{key}: etcd never came back"
                await asyncio.sleep(0.2)
                continue
            latencies.append(time.monotonic() - start)
            finished_at.append(time.monotonic())
            assert returned.setdefault(key, task.id) == task.id
            return

    async def writer(index: int) -> None:
        for i in range(index, total, writers):
            await submit_one(f"burst-{i}")

    burst = asyncio.gather(*(writer(i) for i in range(writers)))
    await wait_until(lambda: _at_least(returned, total // 4), timeout=30, what="a quarter submitted",
                     interval=0.005)
    victim = etcd_leader(etcd_cluster)
    killed_at = time.monotonic()
    victim.kill()
    await asyncio.wait_for(burst, 60)

    unknown = sum("submit: etcd unavailable, retrying" in r.getMessage() for r in caplog.records)
    after = sorted(t for t in finished_at if t > killed_at)
    window = max(b - a for a, b in zip([killed_at, *after], after, strict=False))
    # Resubmitting every key once more returns the same tasks and creates nothing.
    again = await faults.client.submit_many(
        [TaskSpec("fault", {"duration": 0.05}, key=f"burst-{i}") for i in range(total)])
    assert {f"burst-{i}": t.id for i, t in enumerate(again)} == returned
    idem = await faults.store.count(faults.keys.queue(QUEUE) + "idem/")
    assert idem == total

    submitted = set(returned.values())
    assert len(submitted) == total
    final = await faults.wait_terminal(submitted, timeout=90)
    verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink)
    report("kill -9 the etcd leader (3 members) during a submission burst",
           write_gap_s=window, max_submit_latency_s=max(latencies),
           unknown_outcomes_resolved=unknown, client_retries=len(errors), **verdict.figures())


_OUTAGE_WARNING = re.compile(
    r"(WARNING|ERROR) .*(UNAVAILABLE|keepalive failed|etcd did not answer|no refresh for)")


async def _at_least(items: dict[str, str], n: int) -> bool:
    return len(items) >= n


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["stop", "pause"])
async def test_whole_etcd_cluster_down_for_20s_then_everything_resumes(
        faults: FaultSystem, etcd_cluster: list[EtcdProcess], how: str) -> None:
    """stop: SIGTERM every member, start them again on the same data dirs (connections
    refused meanwhile); pause: SIGSTOP every member, then SIGCONT (connections hang)."""
    faults.scheduler("s0", session_ttl=3)
    faults.scheduler("s1", session_ttl=3)
    for name in ("w0", "w1"):
        faults.worker(name, lease_ttl=3, max_concurrent=8)
    await faults.wait_workers("w0", "w1")
    await faults.wait_leader()
    tasks = await faults.submit(200, {"duration": 0.3})
    submitted = {t.id for t in tasks}
    await faults.wait_succeeded(40)

    stopped_at = time.monotonic()
    for member in etcd_cluster:
        if how == "stop":
            member.stop()
        else:
            member.signal(signal.SIGSTOP)
    # While etcd is away a submit fails with a clear error (and changes nothing).
    failed = faults.cli("client", "--type", "fault", "--idempotency-key", "during-outage",
                        timeout=60)
    submit_error_after = time.monotonic() - stopped_at
    assert failed.returncode == 1 and "cannot reach etcd" in failed.stderr, failed.stderr
    await asyncio.sleep(max(0.0, 20 - (time.monotonic() - stopped_at)))
    for member in etcd_cluster:
        if how == "stop":
            member.start(wait=False)
        else:
            member.signal(signal.SIGCONT)
    for member in etcd_cluster:
        member.wait_ready(30)
    back_at = time.monotonic()
    done_before = await faults.count("done/succeeded/")

    async def progressing() -> bool:
        return await faults.count("done/succeeded/") > done_before
    resumed = await wait_until(progressing, timeout=60, what="tasks to finish again")
    retried = faults.cli("client", "--type", "fault", "--idempotency-key", "during-outage")
    assert retried.returncode == 0, retried.stderr
    submitted.add(retried.stdout.strip())
    final = await faults.wait_terminal(submitted, timeout=120)
    all_done = time.monotonic() - back_at
    for node_id, proc in faults.procs.items():
        assert proc.popen.poll() is None, f"{node_id} exited: {faults.log(node_id)[-2000:]}"
    for node_id in ("s0", "s1", "w0", "w1"):
        # Each process said etcd was away. Which line comes first depends on timing: a
        # keepalive that fails within the TTL says "retrying"; one whose first failure is seen
        # after the TTL declares the session lost at once; watches say what they resume from.
        assert _OUTAGE_WARNING.search(faults.log(node_id)), faults.log(node_id)[-3000:]
    verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink)
    report(f"all etcd members down for 20 s ({how})", outage_s=back_at - stopped_at,
           submit_error_after_s=submit_error_after, first_result_after_restart_s=resumed,
           all_done_after_restart_s=all_done, **verdict.figures())


async def _pending(faults: FaultSystem) -> int:
    return await faults.store.count(faults.keys.pending_all(QUEUE))


@pytest.mark.parametrize("how", ["cut", "pause"])
async def test_compaction_while_the_scheduler_watch_is_down(
        faults: FaultSystem, etcd_member: EtcdProcess, how: str) -> None:
    """cut: the scheduler's link to etcd breaks (a proxy drops it), so its watches resume
    from a compacted revision; pause: the scheduler is SIGSTOPped (its streams stay open)."""
    proxy = Proxy(etcd_member.client_port)
    try:
        faults.scheduler("s0", session_ttl=10, endpoints=[proxy.endpoint])
        faults.worker("w0", lease_ttl=3, max_concurrent=20)
        await faults.wait_workers("w0")
        await faults.wait_leader()
        warm = await faults.submit(10, {"duration": 0.05})
        await faults.wait_terminal([t.id for t in warm], timeout=30)

        if how == "cut":
            proxy.cut()
        else:
            faults.procs["s0"].signal(signal.SIGSTOP)
        await asyncio.sleep(0.5)
        # One revision per task: more watch events than etcd buffers for a stalled watcher.
        tasks = [t for batch in await asyncio.gather(*(
            faults.submit(1, {"duration": 0.05}) for _ in range(300))) for t in batch]
        revision = await faults.store.revision()
        await faults.store.compact(revision, physical=True)
        await asyncio.sleep(0.5)
        if how == "cut":
            proxy.restore()
        else:
            faults.procs["s0"].signal(signal.SIGCONT)
        back_at = time.monotonic()

        async def dispatched() -> bool:
            return await _pending(faults) == 0
        await wait_until(dispatched, timeout=30, what="the tasks submitted meanwhile dispatched")
        dispatch = time.monotonic() - back_at
        submitted = {t.id for t in warm + tasks}
        final = await faults.wait_terminal(submitted, timeout=30)
        log = faults.log("s0")
        relisted = "compacted" in log and "re-listing" in log
        if how == "cut":
            assert relisted, log[-3000:]
        assert log.count("leads queue") == 1, log[-3000:]  # kept its term throughout
        verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink,
                              start_revision=revision + 1)
    finally:
        proxy.close()
    report(f"compaction while the scheduler's watches are down ({how})",
           dispatched_after_s=dispatch, relisted=relisted, **verdict.figures())


async def test_compaction_while_a_worker_watch_is_down(
        faults: FaultSystem, etcd_member: EtcdProcess) -> None:
    proxy = Proxy(etcd_member.client_port)
    try:
        faults.scheduler("s0", session_ttl=3)
        faults.worker("w0", lease_ttl=10, max_concurrent=4, endpoints=[proxy.endpoint])
        await faults.wait_workers("w0")
        await faults.wait_leader()
        tasks = await faults.submit(4, {"duration": 8})  # outlasts cut + reconnect backoff
        submitted = {t.id for t in tasks}

        async def running() -> bool:
            current = await faults.tasks()
            return all(current[i].state is TaskState.RUNNING for i in submitted)
        await wait_until(running, timeout=20, what="4 tasks running")
        proxy.cut()
        await asyncio.sleep(0.5)
        cancel_me = tasks[0].id
        await faults.client.cancel(cancel_me)  # a cancel request the worker's watch misses
        revision = await faults.store.revision()
        await faults.store.compact(revision, physical=True)
        await asyncio.sleep(0.5)
        proxy.restore()
        back_at = time.monotonic()

        async def cancelled() -> bool:
            return (await faults.task(cancel_me)).state is TaskState.CANCELLED
        await wait_until(cancelled, timeout=15, what="the missed cancel to be honoured")
        cancel_applied = time.monotonic() - back_at
        final = await faults.wait_terminal(submitted, timeout=30)
        log = faults.log("w0")
        verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink,
                              start_revision=revision + 1, expect=None)
        assert final[cancel_me].state is TaskState.CANCELLED
        assert all(final[i].state is TaskState.SUCCEEDED for i in submitted - {cancel_me})
        kept = all(len(final[i].history) == 1 for i in submitted)
    finally:
        proxy.close()
    report("compaction while a worker's watches are down", attempts_kept=kept,
           missed_cancel_applied_after_s=cancel_applied,
           **verdict.figures())
    assert kept, log[-3000:]

