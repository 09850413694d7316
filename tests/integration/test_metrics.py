"""Prometheus metrics on a real etcd, parsed with the Prometheus text parser and checked
against the true counts of a mixed workload (succeeded, failed, retried, dead, cancelled)."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubetask.client import AsyncClient, TaskSpec
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.metrics import (
    ApiMetrics,
    PrometheusTermMetrics,
    PrometheusWorkerMetrics,
    QueueCollector,
    new_registry,
)
from kubetask.model import RetryPolicy, Task, TaskState
from kubetask.scheduler import Scheduler, SchedulerSettings
from kubetask.store import Keyspace, Store
from kubetask.web.settings import DashboardSettings
from kubetask.worker import ExecutorRegistry, Worker, WorkerSettings
from tests.harness import InProcessSystem, Proc, running_dashboard

pytestmark = pytest.mark.etcd

FAST_RETRY = RetryPolicy(base_seconds=0.05, cap_seconds=0.1)
ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def fetch(url: str, data: bytes | None = None) -> str:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


async def scrape(url: str) -> Samples:
    return parse(await asyncio.to_thread(fetch, url))


async def wait_state(client: AsyncClient, task_id: str, state: TaskState) -> None:
    async with asyncio.timeout(20):
        while True:
            if (await client.get(task_id)).state is state:
                return
            await asyncio.sleep(0.05)


class TrueCounts:
    """What the metrics must say, from the tasks' own records (their attempt history)."""

    def __init__(self, tasks: list[Task]) -> None:
        attempts = [(t, i, a) for t in tasks for i, a in enumerate(t.history)]
        self.attempts = len(attempts)
        self.succeeded = sum(t.state is TaskState.SUCCEEDED for t in tasks)
        self.dead = sum(t.state is TaskState.DEAD for t in tasks)
        # An attempt ended by a cancel request carries the error "cancelled by request".
        cancelled = {(t.id, i) for t, i, a in attempts if a.error == "cancelled by request"}
        failed = [(t, i) for t, i, a in attempts
                  if a.outcome == "failed" and (t.id, i) not in cancelled]
        self.cancelled = len(cancelled)
        self.failed = len(failed)
        self.retried = sum(i < len(t.history) - 1 for t, i in failed)


async def test_scheduler_and_worker_metrics_match_a_mixed_workload(
        etcd: EtcdProcess, keys: Keyspace, client: AsyncClient) -> None:
    registry = new_registry(process=False)
    executors = ExecutorRegistry()
    executors.register_function("fail-always", lambda task: 1 / 0)
    stores = [Store([etcd.endpoint]) for _ in range(2)]
    for s in stores:
        await s.start()
    scheduler = Scheduler(stores[0], keys, SchedulerSettings(node_id="s0"),
                          PrometheusTermMetrics("default", registry))
    worker = Worker(stores[1], keys, WorkerSettings(node_id="w0", retry=FAST_RETRY), executors,
                    PrometheusWorkerMetrics(registry))
    try:
        await scheduler.start()
        await worker.start()
        specs = [TaskSpec("echo", {"duration": 0}, priority=i % 4) for i in range(6)]
        specs += [TaskSpec("fail-always", max_retries=2) for _ in range(2)]
        specs += [TaskSpec("no-such-type", max_retries=3), TaskSpec("echo", delay=3600)]
        tasks = await client.submit_many(specs)
        await client.cancel(tasks[-1].id)  # cancelled while waiting: never dispatched
        running_task = await client.submit("echo", {"duration": 30})
        await wait_state(client, running_task.id, TaskState.RUNNING)
        await client.cancel(running_task.id)  # cancelled while running: the worker stops it
        done = await client.wait([t.id for t in [*tasks, running_task]], timeout=30)
        await asyncio.sleep(0.2)  # the worker counts right after its commit returns
    finally:
        await worker.stop(graceful=False)
        await scheduler.stop()
        for s in stores:
            await s.stop()

    truth = TrueCounts(done)
    assert (truth.succeeded, truth.dead, truth.retried) == (6, 3, 4)  # the workload's shape
    samples = parse(generate_latest(registry).decode())
    assert total(samples, "kubetask_scheduler_tasks_dispatched_total") == truth.attempts
    assert total(samples, "kubetask_scheduler_tasks_dispatched_total", priority="urgent") == \
        sum(1 for t in done for _ in t.history if t.priority == 3)
    assert total(samples, "kubetask_scheduler_dispatch_latency_seconds_count") == truth.attempts
    assert total(samples, "kubetask_worker_tasks_started_total") == truth.attempts
    assert total(samples, "kubetask_worker_tasks_succeeded_total") == truth.succeeded
    assert total(samples, "kubetask_worker_tasks_succeeded_total", type="echo") == 6
    assert total(samples, "kubetask_worker_failed_attempts_total") == truth.failed == 7
    assert total(samples, "kubetask_worker_tasks_retried_total") == truth.retried
    assert total(samples, "kubetask_worker_tasks_dead_total") == truth.dead
    assert total(samples, "kubetask_worker_tasks_cancelled_total") == truth.cancelled == 1
    assert total(samples, "kubetask_worker_queue_wait_seconds_count") == truth.attempts
    assert total(samples, "kubetask_worker_run_duration_seconds_count") == truth.attempts
    assert total(samples, "kubetask_worker_run_duration_seconds_sum") > 0


async def test_dashboard_metrics_read_depth_and_workers_from_etcd(
        client: AsyncClient, system: InProcessSystem) -> None:
    settings = DashboardSettings(namespace=client.namespace, port=0, allow_writes=True)
    async with running_dashboard(client, settings) as base:
        batch = {"tasks": [{"type": "echo", "priority": p} for p in (3, 3, 2, 0, 0, 0)]}
        await asyncio.to_thread(fetch, f"{base}/api/v1/tasks:batch", orjson.dumps(batch))
        await client.submit("echo", queue="other", priority=1)  # through the SDK, not the API
        cancelled = await client.submit("echo", queue="other")
        await client.cancel(cancelled.id)
        await system.worker(node_id="w-metrics", max_concurrent=4)  # no scheduler: all wait
        samples = await scrape(f"{base}/metrics")

    assert total(samples, "kubetask_api_etcd_up") == 1
    assert total(samples, "kubetask_api_tasks_submitted_total") == 6
    depth = {level: total(samples, "kubetask_queue_pending_tasks", queue="default",
                          priority=level) for level in ("urgent", "high", "normal", "low")}
    assert depth == {"urgent": 2, "high": 1, "normal": 0, "low": 3}
    assert total(samples, "kubetask_queue_pending_tasks", queue="other") == 1
    assert total(samples, "kubetask_queue_tasks", queue="other", state="cancelled") == 1
    assert total(samples, "kubetask_queue_tasks", queue="default", state="pending") == 6
    assert total(samples, "kubetask_queue_workers", queue="default") == 1
    assert total(samples, "kubetask_queue_workers", queue="other") == 0
    assert total(samples, "kubetask_queue_capacity_slots", queue="default") == 4
    assert total(samples, "kubetask_worker_capacity_slots", worker="w-metrics") == 4
    assert total(samples, "kubetask_api_requests_total", route="/api/v1/tasks:batch",
                 status="201") == 1
    (stats,) = await client.stats("default")
    assert total(samples, "kubetask_queue_tasks", queue="default") == stats.counts.total


async def wait_http(url: str, proc: Proc, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            assert proc.popen.poll() is None, proc.output()
            try:
                await asyncio.to_thread(fetch, url)
                return
            except OSError:
                await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_processes_serve_metrics_on_their_ports(cli_env: dict[str, str], tmp_path: Path,
                                                      client: AsyncClient) -> None:
    ports = {name: free_port() for name in ("scheduler", "worker", "dashboard")}
    common = ["--metrics-host", "127.0.0.1", "--metrics-port"]
    procs = {
        "scheduler": Proc(["scheduler", "--node-id", "s-m", *common, str(ports["scheduler"])],
                          cli_env, tmp_path / "scheduler.log"),
        "worker": Proc(["worker", "--node-id", "w-m", *common, str(ports["worker"])],
                       cli_env, tmp_path / "worker.log"),
        "dashboard": Proc(["dashboard", "--port", str(ports["dashboard"])], cli_env,
                          tmp_path / "dashboard.log"),
    }
    try:
        for name, proc in procs.items():
            await wait_http(f"http://127.0.0.1:{ports[name]}/metrics", proc)
        tasks = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(5)])
        await client.wait([t.id for t in tasks], timeout=30)
        async with asyncio.timeout(10):  # the worker counts right after its commit returns
            while True:
                worker = await scrape(f"http://127.0.0.1:{ports['worker']}/metrics")
                if total(worker, "kubetask_worker_tasks_succeeded_total") == 5:
                    break
                await asyncio.sleep(0.1)
        scheduler = await scrape(f"http://127.0.0.1:{ports['scheduler']}/metrics")
        board = await scrape(f"http://127.0.0.1:{ports['dashboard']}/metrics")
    finally:
        for proc in procs.values():
            proc.stop()
    assert total(scheduler, "kubetask_scheduler_tasks_dispatched_total", queue="default") == 5
    assert total(worker, "process_resident_memory_bytes") > 0
    assert total(board, "kubetask_queue_tasks", queue="default", state="succeeded") == 5
    assert total(board, "kubetask_queue_workers", queue="default") == 1
    assert f"http://127.0.0.1:{ports['dashboard']}/" in procs["dashboard"].output()


def test_grafana_dashboard_uses_only_metrics_that_exist() -> None:
    registry = new_registry(process=False)
    PrometheusTermMetrics("default", registry)
    PrometheusWorkerMetrics(registry)
    ApiMetrics(registry)
    registry.register(QueueCollector())
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names |= {family.name, *(family.name + s for s in suffixes.get(family.type, []))}
    dashboard = orjson.loads((ROOT / "deploy" / "grafana-dashboard.json").read_bytes())
    used = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
            for name in re.findall(r"kubetask_[a-z_]+", target["expr"])}
    assert used and used <= names, used - names
    assert all(n.startswith("kubetask_") for n in names)
