"""The engine end to end on a real etcd: submit -> priority queue -> scheduler -> worker."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import StoreError, ValidationError
from kubetask.etcd_process import EtcdProcess
from kubetask.model import QueueConfig, RetryPolicy, TaskState
from kubetask.queue import QueueCounts
from kubetask.store import Get, Keyspace, Store
from kubetask.worker import ExecutorRegistry, WorkerSettings
from tests.harness import InProcessSystem, QuietLoad
from tests.integration.executors import ConcurrencyProbe, SlowAsync, greet

pytestmark = pytest.mark.etcd

FAST_RETRY = RetryPolicy(base_seconds=0.05, cap_seconds=0.1)


async def counts_of(client: AsyncClient, queue: str = "default") -> QueueCounts:
    """The queue's exact counts, as the SDK's stats read them."""
    return (await client.stats(queue))[0].counts


def registry_with(*executors: object) -> ExecutorRegistry:
    registry = ExecutorRegistry()
    for ex in executors:
        registry.register(ex)  # type: ignore[arg-type]
    return registry


async def wait_state(client: AsyncClient, task_id: str, state: TaskState,
                     timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while (await client.get(task_id)).state is not state:
            await asyncio.sleep(0.05)


async def test_submitted_tasks_run_to_success(system: InProcessSystem,
                                              client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker()
    tasks = await client.submit_many([TaskSpec("echo", {"duration": 0, "i": i})
                                      for i in range(50)])
    done = await client.wait([t.id for t in tasks], timeout=30)
    assert [t.state for t in done] == [TaskState.SUCCEEDED] * 50
    assert [t.result for t in done] == [{"duration": 0, "i": i} for i in range(50)]
    assert all(t.attempts == 1 and t.worker == "w0" for t in done)
    assert all(t.started_at and t.finished_at and t.finished_at >= t.started_at for t in done)


async def test_one_slot_runs_urgent_before_normal_before_low(system: InProcessSystem,
                                                             client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    await system.scheduler()
    specs = [TaskSpec("probe", {"mark": f"{p}-{i}"}, priority=p) for i in range(3)
             for p in (0, 1, 3)]
    tasks = await client.submit_many(specs)
    await system.worker(registry=registry_with(probe), max_concurrent=1)
    await client.wait([t.id for t in tasks], timeout=30)
    assert probe.order == ["3-0", "3-1", "3-2", "1-0", "1-1", "1-2", "0-0", "0-1", "0-2"]


async def test_max_concurrent_is_never_exceeded(system: InProcessSystem,
                                                client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    await system.scheduler()
    await system.worker(registry=registry_with(probe), max_concurrent=3)
    tasks = await client.submit_many([TaskSpec("probe", {"duration": 0.05})
                                      for _ in range(30)])
    await client.wait([t.id for t in tasks], timeout=30)
    assert probe.peak == 3


async def test_unreliable_succeeds_on_exactly_the_third_attempt(system: InProcessSystem,
                                                               client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(retry=FAST_RETRY)
    task = await client.submit("unreliable")
    (done,) = await client.wait([task.id], timeout=30)
    assert done.state is TaskState.SUCCEEDED
    assert done.attempts == 3
    assert [a.outcome for a in done.history] == ["failed", "failed", "succeeded"]
    assert "fails attempt 1" in (done.history[0].error or "")


async def test_failures_retry_then_go_dead_and_retry_brings_back(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(registry=registry_with(), retry=FAST_RETRY)
    reg = ExecutorRegistry()
    reg.register_function("fail-always", lambda task: 1 / 0)
    await system.worker(registry=reg, retry=FAST_RETRY, node_id="failer")
    task = await client.submit("fail-always", max_retries=2)
    (done,) = await client.wait([task.id], timeout=30)
    assert done.state is TaskState.DEAD and done.attempts == 3
    assert "ZeroDivisionError" in (done.error or "")
    assert [t.id for t in await client.list(state="dead")] == [task.id]
    again = await client.retry(task.id)
    assert again.state is TaskState.PENDING
    (done,) = await client.wait([task.id], timeout=30)
    assert done.state is TaskState.DEAD and len(done.history) == 6


async def test_attempt_numbers_go_on_across_a_retry_and_every_failure_is_counted(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(retry=FAST_RETRY)
    task = await client.submit("no-such-type", max_retries=0)  # dead after one attempt
    (done,) = await client.wait([task.id], timeout=30)
    assert done.state is TaskState.DEAD
    await client.retry(task.id)
    (done,) = await client.wait([task.id], timeout=30)
    assert done.state is TaskState.DEAD and done.attempts == 1
    assert [(a.number, a.outcome) for a in done.history] == [(1, "failed"), (2, "failed")]
    assert (await counts_of(client)).failed_attempts == 2


async def test_queue_defaults_apply_to_tasks_that_set_none(system: InProcessSystem,
                                                           client: AsyncClient) -> None:
    """Precedence: the task's max retries, else its queue's, else the worker's flag."""
    await system.scheduler()
    reg = ExecutorRegistry()
    reg.register_function("fail-always", lambda task: 1 / 0)
    await system.worker(registry=reg, retry=replace(FAST_RETRY, max_retries=2))
    await client.configure_queue("default", max_retries=1, retry_base=0.01)
    plain = await client.submit("fail-always")
    own = await client.submit("fail-always", max_retries=0)
    other_queue = await client.submit("fail-always", queue="elsewhere")
    done = {t.id: t for t in await client.wait([plain.id, own.id], timeout=30)}
    assert plain.max_retries is None
    assert (done[plain.id].state, done[plain.id].attempts) == (TaskState.DEAD, 2)
    assert (done[own.id].state, done[own.id].attempts) == (TaskState.DEAD, 1)
    # The queue's setting is read at each failure: a reset applies to queued tasks too.
    await client.reset_queue_config("default")
    again = await client.submit("fail-always")
    (done_again,) = await client.wait([again.id], timeout=30)
    assert done_again.attempts == 3  # the worker's --max-retries 2
    assert (await client.queue_config("default")) == QueueConfig()
    assert (await client.get(other_queue.id)).state is TaskState.PENDING  # no worker there


async def test_queue_defaults_refuse_bad_values_and_write_nothing(
        client: AsyncClient, store: Store) -> None:
    await client.configure_queue("default", retry_cap=5)
    before = await store.revision()
    for bad in ({"max_retries": -1}, {"retry_base": float("nan")}, {"retry_base": 10}):
        with pytest.raises(ValidationError):
            await client.configure_queue("default", **bad)
    with pytest.raises(ValidationError, match="queue name"):
        await client.configure_queue("a/b", max_retries=1)
    assert await store.revision() == before
    assert (await client.queue_config("default")).retry_cap_seconds == 5.0


async def test_unknown_type_goes_dead_at_once_with_a_clear_error(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker()
    task = await client.submit("no-such-type", max_retries=5)
    (done,) = await client.wait([task.id], timeout=15)
    assert done.state is TaskState.DEAD and done.attempts == 1
    assert "no executor for task type 'no-such-type'" in (done.error or "")


async def test_timeout_stops_an_async_attempt(system: InProcessSystem,
                                              client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(registry=registry_with(SlowAsync()))
    task = await client.submit("slow-async", {"duration": 30}, timeout=0.3, max_retries=0)
    (done,) = await client.wait([task.id], timeout=15)
    assert done.state is TaskState.DEAD
    assert "timed out after 0.3s" in (done.error or "")


async def test_cancel_pending_and_running(system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    pending = await client.submit("echo", {"duration": 30})
    cancelled = await client.cancel(pending.id)
    assert cancelled.state is TaskState.CANCELLED
    await system.worker()
    running = await client.submit("echo", {"duration": 30})
    await wait_state(client, running.id, TaskState.RUNNING)
    await client.cancel(running.id)
    (done,) = await client.wait([running.id], timeout=10)
    assert done.state is TaskState.CANCELLED
    counts = await counts_of(client)
    assert (counts.cancelled, counts.pending, counts.running) == (2, 0, 0)


async def test_cancel_stops_a_running_async_task_and_the_slot_serves_on(
        system: InProcessSystem, client: AsyncClient) -> None:
    """An async executor runs in its attempt's task; a cancel interrupts it there, is
    recorded as such, and leaves the worker's one slot usable."""
    await system.scheduler()
    await system.worker(registry=registry_with(SlowAsync()), max_concurrent=1)
    running = await client.submit("slow-async", {"duration": 30}, max_retries=0)
    await wait_state(client, running.id, TaskState.RUNNING)  # its start record was written
    await client.cancel(running.id)
    (done,) = await client.wait([running.id], timeout=10)
    assert done.state is TaskState.CANCELLED and done.error == "cancelled by request"
    assert [a.outcome for a in done.history] == ["cancelled"]
    assert done.started_at is not None and done.history[0].started_at == done.started_at
    quick = await client.submit("slow-async", {"duration": 0.01})
    (after,) = await client.wait([quick.id], timeout=10)
    assert after.state is TaskState.SUCCEEDED and after.result == "done"


async def test_fast_task_has_start_time_without_a_separate_running_record(
        system: InProcessSystem, client: AsyncClient, store: Store, keys: Keyspace) -> None:
    """A task that ends within the start linger is written once at its end, which carries
    the start time; it never shows as running (one write instead of two)."""
    await system.scheduler()
    await system.worker()
    task = await client.submit("noop")
    (done,) = await client.wait([task.id], timeout=10)
    kv = await store.get(keys.task(task.id))
    assert kv is not None and kv.version == 3  # submit, dispatch, end
    assert done.state is TaskState.SUCCEEDED and done.worker is not None
    assert done.started_at is not None and done.finished_at is not None
    assert done.created_at <= done.started_at <= done.finished_at


async def test_big_batch_fits_etcd_limits(client: AsyncClient) -> None:
    """One submit_many of tasks with idempotency keys over many new queues is split into
    transactions etcd accepts (at most 128 operations each), and stores every task once."""
    specs = [TaskSpec("echo", {"i": i}, queue=f"q{i % 97}", key=f"k{i}") for i in range(500)]
    stored = await client.submit_many(specs)
    assert len({t.id for t in stored}) == 500
    again = await client.submit_many(specs)  # the same keys: the same tasks, nothing new
    assert [t.id for t in again] == [t.id for t in stored]
    assert sum(s.counts.pending for s in await client.stats()) == 500
    plain = await client.submit_many([TaskSpec("echo", {"i": i}) for i in range(300)])
    assert len({t.id for t in plain}) == 300


async def test_idempotency_key_returns_the_first_task(client: AsyncClient) -> None:
    first = await client.submit("echo", key="order-42")
    again = await client.submit("echo", {"other": True}, key="order-42")
    assert again.id == first.id and again.payload is None
    assert (await counts_of(client)).pending == 1


async def test_custom_executor_function(system: InProcessSystem, client: AsyncClient) -> None:
    registry = ExecutorRegistry()
    registry.register_function("greet", greet)
    await system.scheduler()
    await system.worker(registry=registry)
    task = await client.submit("greet", {"who": "kubetask"})
    (done,) = await client.wait([task.id], timeout=15)
    assert done.result == {"greeting": "hello kubetask"}


async def test_delayed_task_waits_for_its_time(system: InProcessSystem,
                                               client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker()
    task = await client.submit("echo", {"duration": 0}, delay=1.0)
    assert (await counts_of(client)).retrying == 1
    (done,) = await client.wait([task.id], timeout=15)
    assert done.started_at is not None and done.started_at >= task.created_at + 1.0


async def test_round_robin_spreads_evenly(system: InProcessSystem, client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    for i in range(3):
        await system.worker(registry=registry_with(probe), node_id=f"rr{i}", max_concurrent=20)
    await system.scheduler(strategy="round_robin")
    tasks = await client.submit_many([TaskSpec("probe", {"duration": 0.2}) for _ in range(30)])
    await client.wait([t.id for t in tasks], timeout=30)
    assert probe.by_worker == {"rr0": 10, "rr1": 10, "rr2": 10}


async def test_weighted_shares_follow_worker_weights(system: InProcessSystem,
                                                     client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    await system.worker(registry=registry_with(probe), node_id="heavy", weight=3,
                        max_concurrent=100)
    await system.worker(registry=registry_with(probe), node_id="light", weight=1,
                        max_concurrent=100)
    await system.scheduler(strategy="weighted")
    tasks = await client.submit_many([TaskSpec("probe", {"duration": 0.2}) for _ in range(40)])
    await client.wait([t.id for t in tasks], timeout=30)
    assert probe.by_worker == {"heavy": 30, "light": 10}


async def test_least_load_prefers_the_idle_worker(system: InProcessSystem,
                                                  client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    # Both workers live in this process: their psutil CPU readings would be each other's.
    await system.worker(registry=registry_with(probe), node_id="busy", load=QuietLoad())
    await system.scheduler(strategy="least_load")
    blockers = await client.submit_many([TaskSpec("probe", {"duration": 3}) for _ in range(6)])
    for t in blockers:
        await wait_state(client, t.id, TaskState.RUNNING)
    await system.worker(registry=registry_with(probe), node_id="idle", load=QuietLoad())
    await asyncio.sleep(0.3)
    tasks = await client.submit_many([TaskSpec("probe", {"duration": 0.1}) for _ in range(4)])
    done = await client.wait([t.id for t in tasks], timeout=30)
    assert Counter(t.worker for t in done) == {"idle": 4}


async def test_stats_counts_are_exact_after_a_mixed_workload(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(retry=FAST_RETRY)
    ok = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(7)])
    flaky = await client.submit("unreliable")
    dead = await client.submit("nope", max_retries=0)
    await client.wait([t.id for t in ok] + [flaky.id, dead.id], timeout=30)
    cancelled = await client.submit("echo", delay=60)
    await client.cancel(cancelled.id)
    (stats,) = await client.stats("default")
    data = stats.to_dict()
    assert (data["total"], data["succeeded"], data["dead"], data["cancelled"]) == (10, 8, 1, 1)
    assert data["failed_attempts"] == 3  # two unreliable attempts + the unknown type
    assert "failed" not in data  # attempts are not a task state
    assert (data["pending"], data["running"], data["retrying"], data["workers"]) == (0, 0, 0, 1)
    (w,) = data["worker_stats"]
    assert w["id"] == "w0" and w["capacity"] == 10


async def test_the_sdk_reads_a_queues_workers_and_its_leader(system: InProcessSystem,
                                                              client: AsyncClient) -> None:
    assert (await client.leader("default"), await client.workers("default")) == (None, [])
    scheduler = await system.scheduler(node_id="s-lead")
    await asyncio.wait_for(scheduler.leading.wait(), 10)
    await system.scheduler(node_id="s-standby")
    await system.worker(node_id="w-a", max_concurrent=3)
    assert await client.leader("default") == "s-lead"
    assert [(w.id, w.capacity) for w in await client.workers("default")] == [("w-a", 3)]
    assert (await client.leader("other"), await client.workers("other")) == (None, [])
    with pytest.raises(ValidationError, match="queue name"):
        await client.leader("a/b")


async def test_a_queue_with_a_worker_and_no_task_yet_is_listed(system: InProcessSystem,
                                                               client: AsyncClient) -> None:
    """`kubetask stats` and the dashboard list queues: one whose workers wait for its first
    task is there, with them (it said "no queues yet")."""
    await system.worker(node_id="w-idle", queue="idle", max_concurrent=2)
    (stats,) = await client.stats()
    assert (stats.counts.queue, [w.info.id for w in stats.workers]) == ("idle", ["w-idle"])
    assert stats.counts.pending == 0


async def test_namespaces_keep_tenants_apart(etcd: EtcdProcess, system: InProcessSystem,
                                             client: AsyncClient) -> None:
    other = AsyncClient(etcd.endpoint, namespace=client.namespace + "x")
    async with other:
        await other.submit("echo")
        assert await client.queues() == []
        assert (await counts_of(other)).pending == 1


async def test_graceful_stop_hands_back_unstarted_tasks(system: InProcessSystem,
                                                        client: AsyncClient) -> None:
    await system.scheduler()
    worker = await system.worker(WorkerSettings(node_id="drainer", max_concurrent=1,
                                                shutdown_timeout=5))
    tasks = await client.submit_many([TaskSpec("echo", {"duration": 0.5}) for _ in range(3)])
    await wait_state(client, tasks[0].id, TaskState.RUNNING)
    await worker.stop(graceful=True)
    states = [(await client.get(t.id)).state for t in tasks]
    assert states[0] is TaskState.SUCCEEDED
    assert TaskState.RUNNING not in states
    await system.worker(node_id="next")
    done = await client.wait([t.id for t in tasks], timeout=30)
    assert all(t.state is TaskState.SUCCEEDED for t in done)


async def test_finished_tasks_expire_and_history_is_compacted(
        system: InProcessSystem, client: AsyncClient, store: Store, keys: Keyspace) -> None:
    await system.scheduler(retention_seconds=0.5, compact_history_seconds=0.5,
                                   janitor_interval=0.2)
    await system.worker(retry=FAST_RETRY)
    tasks = await client.submit_many([TaskSpec("echo", {"duration": 0}, key=f"k{i}")
                                      for i in range(5)] + [TaskSpec("nope", max_retries=0)])
    await client.wait([t.id for t in tasks], timeout=15)
    old_revision = await store.revision()
    async with asyncio.timeout(15):
        while await client.queues() and (await counts_of(client)).total:
            await asyncio.sleep(0.1)
    counts = await counts_of(client)
    assert (counts.total, counts.failed_attempts) == (0, 0)
    assert await client.list() == []
    # the idempotency keys went with their tasks: the same key makes a new task
    again = await client.submit("echo", key="k0")
    assert again.id not in {t.id for t in tasks}
    async with asyncio.timeout(15):  # history before the sweep gets compacted away
        while True:
            try:
                await store.range(Get(keys.tasks(), prefix=True), revision=old_revision)
            except StoreError as exc:
                assert "compacted" in str(exc)
                break
            await asyncio.sleep(0.1)


async def test_priority_aging_bounds_starvation(system: InProcessSystem,
                                                client: AsyncClient) -> None:
    probe = ConcurrencyProbe()
    await system.scheduler(priority_aging_seconds=0.2)
    low = await client.submit_many([TaskSpec("probe", {"mark": f"low-{i}"}, priority="low")
                                    for i in range(3)])
    await asyncio.sleep(0.8)  # the low tasks age past urgent (0 + 0.8 // 0.2 >= 3)
    urgent = await client.submit_many([TaskSpec("probe", {"mark": f"urgent-{i}"},
                                                priority="urgent") for i in range(3)])
    await system.worker(registry=registry_with(probe), max_concurrent=1)
    await client.wait([t.id for t in low + urgent], timeout=30)
    assert probe.order == ["low-0", "low-1", "low-2", "urgent-0", "urgent-1", "urgent-2"]


async def test_task_changes_feed_follows_records_and_filters_by_id(
        client: AsyncClient) -> None:
    before = await client.submit("echo", delay=60)
    feed = await client.task_changes()
    watched = await client.submit("echo", delay=60)
    only = await client.task_changes(only={watched.id})
    other = await client.submit("echo", delay=60)
    await client.cancel(watched.id)
    seen: list[tuple[str, TaskState]] = []
    async with asyncio.timeout(10):
        async for batch in feed:
            seen += [(t.id, t.state) for t in batch]
            if len(seen) == 3:
                break
        async for batch in only:
            assert [(t.id, t.state) for t in batch] == [(watched.id, TaskState.CANCELLED)]
            break
    feed.close()
    only.close()
    assert seen == [(watched.id, TaskState.PENDING), (other.id, TaskState.PENDING),
                    (watched.id, TaskState.CANCELLED)]
    assert before.id not in {i for i, _ in seen}
