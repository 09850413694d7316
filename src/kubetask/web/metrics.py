"""Prometheus metrics: scheduler and worker hooks, the API's counters, etcd figures at scrape.

Names follow DESIGN.md §7: `kubetask_<subsystem>_<what>_<unit>`, counters end in `_total`,
durations in `_seconds`. Every process gets its own CollectorRegistry (no global state);
schedulers and workers serve theirs with `serve_metrics` on `--metrics-port`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubetask.client import QueueStats
from kubetask.model import Priority, Task, TaskState
from kubetask.scheduler import TermMetrics
from kubetask.worker import WorkerMetrics

# Waits and runs span milliseconds (echo) to hours (batch jobs).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0, 900.0, 3600.0, float("inf"))


def new_registry(*, process: bool = True) -> CollectorRegistry:
    """A registry of its own, with the process, platform and GC figures when `process`."""
    registry = CollectorRegistry(auto_describe=True)
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry


class PrometheusTermMetrics(TermMetrics):
    """What a scheduler's leader terms do: dispatches, their latency, recoveries."""

    def __init__(self, queue: str, registry: CollectorRegistry) -> None:
        self.queue = queue
        self._dispatched = Counter(
            "kubetask_scheduler_tasks_dispatched_total",
            "Tasks assigned to a worker by the leading scheduler.",
            ["queue", "priority"], registry=registry)
        self._latency = Histogram(
            "kubetask_scheduler_dispatch_latency_seconds",
            "Time from submission to assignment, per dispatched task.",
            ["queue"], buckets=DURATION_BUCKETS, registry=registry)
        self._recovered = Counter(
            "kubetask_scheduler_tasks_recovered_total",
            "Tasks of lost workers handed back to the queue.", ["queue"], registry=registry)

    def dispatched(self, wait_seconds: float, priority: int) -> None:
        self._dispatched.labels(self.queue, Priority(priority).name.lower()).inc()
        self._latency.labels(self.queue).observe(max(wait_seconds, 0.0))

    def recovered(self) -> None:
        self._recovered.labels(self.queue).inc()


class PrometheusWorkerMetrics(WorkerMetrics):
    """What a worker's attempts end in, how long tasks waited and ran."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["queue", "type"]

        def counter(what: str, doc: str) -> Counter:
            return Counter(f"kubetask_worker_{what}_total", doc, labels, registry=registry)

        self._started = counter("tasks_started", "Attempts started.")
        self._succeeded = counter("tasks_succeeded",
                                  "Attempts that succeeded (the task succeeded).")
        # Attempts, not tasks: a task retried twice fails three attempts.
        self._failed = counter("failed_attempts", "Attempts that failed (then retried or dead).")
        self._retried = counter("tasks_retried", "Failed attempts followed by a retry (backoff).")
        self._dead = counter("tasks_dead",
                             "Failed attempts that left the task dead (no retries left).")
        self._cancelled = counter("tasks_cancelled", "Attempts stopped by a cancel request.")
        self._wait = Histogram(
            "kubetask_worker_queue_wait_seconds",
            "Time from submission to the start of an attempt (queue wait).",
            ["queue"], buckets=DURATION_BUCKETS, registry=registry)
        self._run = Histogram(
            "kubetask_worker_run_duration_seconds", "Run time of an attempt.",
            labels, buckets=DURATION_BUCKETS, registry=registry)

    def started(self, task: Task, wait_seconds: float) -> None:
        self._started.labels(task.queue, task.type).inc()
        self._wait.labels(task.queue).observe(max(wait_seconds, 0.0))

    def finished(self, task: Task, run_seconds: float) -> None:
        labels = (task.queue, task.type)
        self._run.labels(*labels).observe(max(run_seconds, 0.0))
        if task.state is TaskState.SUCCEEDED:
            self._succeeded.labels(*labels).inc()
        elif task.state is TaskState.CANCELLED:
            self._cancelled.labels(*labels).inc()
        else:
            self._failed.labels(*labels).inc()
            if task.state is TaskState.RETRYING:
                self._retried.labels(*labels).inc()
            elif task.state is TaskState.DEAD:
                self._dead.labels(*labels).inc()


class ApiMetrics:
    """The HTTP server's own figures: tasks submitted through it, requests by route."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._submitted = Counter(
            "kubetask_api_tasks_submitted_total", "Tasks submitted through the HTTP API.",
            ["queue"], registry=registry)
        self._requests = Counter(
            "kubetask_api_requests_total", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=registry)

    def submitted(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            self._submitted.labels(task.queue).inc()

    def request(self, method: str, route: str, status: int) -> None:
        self._requests.labels(method, route, str(status)).inc()


class QueueCollector(Collector):
    """Queue depth, states and workers as gauges, from the last snapshot read from etcd.

    The server refreshes the snapshot (an async etcd read) right before each scrape;
    `collect` itself does no I/O.
    """

    def __init__(self) -> None:
        self._stats: Sequence[QueueStats] = ()
        self._up = 0.0
        self._read_at = 0.0

    def update(self, stats: Sequence[QueueStats] | None) -> None:
        """A fresh snapshot, or None when etcd could not be read (figures are then omitted)."""
        self._stats = stats or ()
        self._up = 0.0 if stats is None else 1.0
        self._read_at = time.time()

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the data; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("kubetask_api_etcd_up",
                                "1 if the last read of queue figures from etcd succeeded.",
                                value=self._up)
        yield from self._queue_families()
        yield from self._worker_families()

    def _queue_families(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily("kubetask_queue_pending_tasks",
                                    "Queue depth: pending tasks by priority.",
                                    labels=["queue", "priority"])
        states = GaugeMetricFamily("kubetask_queue_tasks", "Tasks by state.",
                                   labels=["queue", "state"])
        failed = GaugeMetricFamily("kubetask_queue_failed_attempts",
                                   "Failed attempts (not tasks) of the queue's stored tasks.",
                                   labels=["queue"])
        workers = GaugeMetricFamily("kubetask_queue_workers", "Registered workers.",
                                    labels=["queue"])
        capacity = GaugeMetricFamily("kubetask_queue_capacity_slots",
                                     "Task slots of all workers.", labels=["queue"])
        for s in self._stats:
            c = s.counts
            for level, count in c.pending_by_priority.items():
                pending.add_metric([c.queue, level], count)
            for state, count in ((TaskState.PENDING, c.pending), (TaskState.RUNNING, c.running),
                                 (TaskState.RETRYING, c.retrying),
                                 (TaskState.SUCCEEDED, c.succeeded), (TaskState.DEAD, c.dead),
                                 (TaskState.CANCELLED, c.cancelled)):
                states.add_metric([c.queue, state.value], count)
            failed.add_metric([c.queue], c.failed_attempts)
            workers.add_metric([c.queue], len(s.workers))
            capacity.add_metric([c.queue], sum(w.info.capacity for w in s.workers))
        yield from (pending, states, failed, workers, capacity)

    def _worker_families(self) -> Iterator[Metric]:
        labels = ["queue", "worker"]
        running = GaugeMetricFamily("kubetask_worker_running_tasks",
                                    "Tasks assigned to or running on the worker (etcd's active "
                                    "index).", labels=labels)
        capacity = GaugeMetricFamily("kubetask_worker_capacity_slots",
                                     "The worker's --max-concurrent.", labels=labels)
        cpu = GaugeMetricFamily("kubetask_worker_cpu_ratio", "CPU use of the worker (0-1).",
                                labels=labels)
        memory = GaugeMetricFamily("kubetask_worker_memory_ratio",
                                   "Memory use of the worker's machine (0-1).", labels=labels)
        age = GaugeMetricFamily("kubetask_worker_heartbeat_age_seconds",
                                "Time since the worker's last heartbeat.", labels=labels)
        for s in self._stats:
            for figures in s.workers:
                w = figures.info
                key = [w.queue, w.id]
                running.add_metric(key, figures.running)
                capacity.add_metric(key, w.capacity)
                cpu.add_metric(key, w.cpu_percent / 100.0)
                memory.add_metric(key, w.memory_percent / 100.0)
                age.add_metric(key, max(self._read_at - w.heartbeat_at, 0.0))
        yield from (running, capacity, cpu, memory, age)


class MetricsEndpoint:
    """A registry served over HTTP on its own thread (schedulers' and workers' /metrics)."""

    def __init__(self, server: WSGIServer, thread: Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> MetricsEndpoint:
    """Serve `registry` at http://host:port/metrics (port 0: any free port)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server, thread)


def scheduler_metrics(queue: str, port: int, host: str = "0.0.0.0"
                      ) -> tuple[PrometheusTermMetrics, MetricsEndpoint]:
    """For `kubetask scheduler --metrics-port`: hooks and their HTTP endpoint."""
    registry = new_registry()
    return PrometheusTermMetrics(queue, registry), serve_metrics(registry, port, host)


def worker_metrics(port: int, host: str = "0.0.0.0"
                   ) -> tuple[PrometheusWorkerMetrics, MetricsEndpoint]:
    """For `kubetask worker --metrics-port`: hooks and their HTTP endpoint."""
    registry = new_registry()
    return PrometheusWorkerMetrics(registry), serve_metrics(registry, port, host)
