"""The user's levers under real processes: cancel (pending and running), retries with
backoff into dead and back with `task retry`, per-task timeouts, idempotent submission."""

from __future__ import annotations

import json
import time

from kubetask.model import RetryPolicy, TaskState
from tests.faults.audit import audit, read_sink
from tests.faults.system import FaultSystem, report, wait_until


async def _start(faults: FaultSystem, *, max_concurrent: int = 4) -> None:
    faults.scheduler("s0")
    faults.worker("w0", lease_ttl=3, max_concurrent=max_concurrent)
    await faults.wait_workers("w0")
    await faults.wait_leader()


def _ids(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines() if line.strip()]


async def test_cancel_pending_and_running_tasks(faults: FaultSystem) -> None:
    await _start(faults, max_concurrent=2)
    running = await faults.submit(1, {"duration": 30})  # sync, stops cooperatively
    running += await faults.submit(1, {"duration": 30}, type_="fault-async")
    submitted = {t.id for t in running}

    async def both_running() -> bool:
        current = await faults.tasks()
        return all(current[t.id].state is TaskState.RUNNING for t in running)
    await wait_until(both_running, timeout=20, what="2 tasks running")
    queued = await faults.submit(3, {"duration": 0.1})  # no free slot: they stay pending
    submitted |= {t.id for t in queued}

    out = faults.cli("task", "cancel", queued[0].id, queued[1].id)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [queued[0].id, "cancelled", queued[1].id, "cancelled"]
    cancelled_at = time.monotonic()
    out = faults.cli("task", "cancel", *(t.id for t in running))
    assert out.returncode == 0 and "cancel requested" in out.stdout, out.stdout + out.stderr

    async def stopped() -> bool:
        current = await faults.tasks()
        return all(current[t.id].state is TaskState.CANCELLED for t in running)
    await wait_until(stopped, timeout=10, what="the running tasks to stop")
    stop_time = time.monotonic() - cancelled_at
    final = await faults.wait_terminal(submitted, timeout=30)
    verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink, expect=None)
    assert final[queued[2].id].state is TaskState.SUCCEEDED
    sink = read_sink(faults.sink)
    never_ran = {queued[0].id, queued[1].id}
    assert not [e for e in sink if e["task"] in never_ran]
    assert {e["task"] for e in sink if e["ev"] == "stopped"} == {t.id for t in running}
    again = faults.cli("task", "cancel", running[0].id)
    assert again.returncode == 1 and "already cancelled" in again.stderr
    report("cancel pending and running tasks", stopped_after_cancel_returned_s=stop_time,
           **verdict.figures())


async def test_retries_back_off_into_dead_and_task_retry_brings_it_back(
        faults: FaultSystem) -> None:
    await _start(faults)
    ok = faults.base / "ok"
    payload = json.dumps({"fail_unless": str(ok)})
    out = faults.cli("client", "--type", "fault", "--payload", payload, "--max-retries", "2",
                     "--retry-base", "0.4")
    assert out.returncode == 0, out.stderr
    task_id = out.stdout.strip()
    dead = (await faults.wait_terminal([task_id], timeout=30))[task_id]
    assert dead.state is TaskState.DEAD
    history = dead.history
    assert [a.outcome for a in history] == ["failed"] * 3  # max retries 2: 3 attempts
    policy = RetryPolicy(max_retries=2, base_seconds=0.4, cap_seconds=2)
    gaps = []
    for n in (1, 2):
        gap = (history[n].started_at or 0) - (history[n - 1].finished_at or 0)
        floor = min(policy.cap_seconds, policy.base_seconds * 2 ** (n - 1)) / 2
        assert gap >= floor - 0.05, (n, gap, floor)
        gaps.append(gap)
    listed = faults.cli("task", "list", "--state", "dead", "--json")
    assert task_id in {t["id"] for t in json.loads(listed.stdout)}

    ok.touch()
    out = faults.cli("task", "retry", task_id)
    assert out.returncode == 0 and out.stdout.split() == [task_id, "pending"], out.stdout
    final = await faults.wait_terminal([task_id], timeout=30)
    assert [a.outcome for a in final[task_id].history] == ["failed"] * 3 + ["succeeded"]
    verdict = await audit(faults.store, faults.keys, {task_id}, final, faults.sink)
    report("retries with backoff reach dead; task retry brings it back",
           backoff_1_s=gaps[0], backoff_2_s=gaps[1], **verdict.figures())


async def test_timeout_stops_an_attempt_and_counts_it_failed(faults: FaultSystem) -> None:
    await _start(faults)
    ids = []
    for type_ in ("fault", "fault-async"):
        out = faults.cli("client", "--type", type_, "--payload", '{"duration": 30}',
                         "--timeout", "1", "--max-retries", "1", "--retry-base", "0.2")
        assert out.returncode == 0, out.stderr
        ids.append(out.stdout.strip())
    final = await faults.wait_terminal(ids, timeout=30)
    runs = []
    for task_id in ids:
        task = final[task_id]
        assert task.state is TaskState.DEAD
        assert [a.outcome for a in task.history] == ["failed", "failed"]
        for attempt in task.history:
            assert attempt.error == "timed out after 1.0s", attempt
            runs.append((attempt.finished_at or 0) - (attempt.started_at or 0))
    assert max(runs) < 2.5, runs
    verdict = await audit(faults.store, faults.keys, set(ids), final, faults.sink, expect=None)
    report("per-task timeout", timeout_s=1.0, longest_attempt_s=max(runs), **verdict.figures())


async def test_idempotency_key_returns_the_first_task(faults: FaultSystem) -> None:
    await _start(faults)
    first = faults.cli("client", "--type", "fault", "--idempotency-key", "order-42")
    second = faults.cli("client", "--type", "fault", "--idempotency-key", "order-42",
                        "--payload", '{"duration": 5}')
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert _ids(first.stdout) == _ids(second.stdout)
    batch = faults.cli("client", "--type", "fault", "--count", "3", "--idempotency-key", "b")
    batch_again = faults.cli("client", "--type", "fault", "--count", "3",
                             "--idempotency-key", "b")
    assert _ids(batch.stdout) == _ids(batch_again.stdout) and len(_ids(batch.stdout)) == 3
    sdk = await faults.client.submit("fault", None, key="order-42")
    assert sdk.id == _ids(first.stdout)[0]

    submitted = set(_ids(first.stdout) + _ids(batch.stdout))
    final = await faults.wait_terminal(submitted, timeout=30)
    assert set(final) == submitted  # 4 tasks exist, not 8
    verdict = await audit(faults.store, faults.keys, submitted, final, faults.sink)
    report("idempotent submission", **verdict.figures())
