"""The web server's figures: its requests and submits, and queue gauges read at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubetask.client import QueueStats
from kubetask.model import Task, TaskState


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
                                    "Tasks assigned to or running on the worker (its "
                                    "assignments in etcd).", labels=labels)
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
