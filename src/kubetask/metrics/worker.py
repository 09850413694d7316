"""The worker's hooks in Prometheus: what attempts end in, how long tasks waited and ran."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from kubetask.metrics.registry import DURATION_BUCKETS, MetricsEndpoint, new_registry, serve_metrics
from kubetask.model import Task, TaskState
from kubetask.worker import WorkerMetrics


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


def worker_metrics(port: int, host: str = "0.0.0.0"
                   ) -> tuple[PrometheusWorkerMetrics, MetricsEndpoint]:
    """For `kubetask worker --metrics-port`: hooks and their HTTP endpoint."""
    registry = new_registry()
    return PrometheusWorkerMetrics(registry), serve_metrics(registry, port, host)
