"""The scheduler's hooks in Prometheus: dispatches, their latency, recoveries."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from kubetask.metrics.registry import DURATION_BUCKETS, MetricsEndpoint, new_registry, serve_metrics
from kubetask.model import Priority
from kubetask.scheduler import TermMetrics


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


def scheduler_metrics(queue: str, port: int, host: str = "0.0.0.0"
                      ) -> tuple[PrometheusTermMetrics, MetricsEndpoint]:
    """For `kubetask scheduler --metrics-port`: hooks and their HTTP endpoint."""
    registry = new_registry()
    return PrometheusTermMetrics(queue, registry), serve_metrics(registry, port, host)
