"""The operator's figures in Prometheus: its own counters (Tasks submitted and refused, status
patches, change-feed restarts, Tasks followed), the schedulers it runs and its autoscaler's
decisions, by namespace and queue, in one registry beside the process figures."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kubetask.metrics.registry import DURATION_BUCKETS, MetricsEndpoint, new_registry, serve_metrics
from kubetask.metrics.scaling import ScalingMetrics
from kubetask.model import Priority
from kubetask.scheduler import TermMetrics


class _QueueTermMetrics(TermMetrics):
    """One scheduler's hooks: the operator's shared series, labelled with its queue."""

    def __init__(self, owner: PrometheusOperatorMetrics, namespace: str, queue: str) -> None:
        self._owner = owner
        self._labels = (namespace, queue)

    def dispatched(self, wait_seconds: float, priority: int) -> None:
        owner = self._owner
        owner.dispatched.labels(*self._labels, Priority(priority).name.lower()).inc()
        owner.dispatch_latency.labels(*self._labels).observe(max(wait_seconds, 0.0))

    def recovered(self) -> None:
        self._owner.recovered.labels(*self._labels).inc()


class PrometheusOperatorMetrics:
    """The operator's hooks (kubetask.operator.hooks.OperatorHooks) counted in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.scaling: ScalingMetrics | None = ScalingMetrics(registry)
        ns = ["namespace"]
        self._submitted = Counter(
            "kubetask_operator_tasks_submitted_total",
            "Task resources submitted to etcd (idempotent: a resubmission after a restart "
            "counts again but makes no second task).", ns, registry=registry)
        self._refused = Counter(
            "kubetask_operator_submit_refusals_total",
            "Task resources refused: their spec is not a valid task.", ns, registry=registry)
        self._patches = Counter(
            "kubetask_operator_status_patches_total",
            "Task status patches written to the API server.", ns, registry=registry)
        self._restarts = Counter(
            "kubetask_operator_feed_restarts_total",
            "Change feeds of a namespace opened again after they failed.", ns, registry=registry)
        self._followed = Gauge(
            "kubetask_operator_tasks_followed",
            "Task resources the operator follows now.", ns, registry=registry)
        queue = ["namespace", "queue"]
        self.dispatched = Counter(
            "kubetask_scheduler_tasks_dispatched_total",
            "Tasks assigned to a worker by the leading scheduler.", [*queue, "priority"],
            registry=registry)
        self.dispatch_latency = Histogram(
            "kubetask_scheduler_dispatch_latency_seconds",
            "Time from submission to assignment, per dispatched task.", queue,
            buckets=DURATION_BUCKETS, registry=registry)
        self.recovered = Counter(
            "kubetask_scheduler_tasks_recovered_total",
            "Tasks of lost workers handed back to the queue.", queue, registry=registry)

    def submitted(self, namespace: str) -> None:
        self._submitted.labels(namespace).inc()

    def refused(self, namespace: str) -> None:
        self._refused.labels(namespace).inc()

    def status_patched(self, namespace: str) -> None:
        self._patches.labels(namespace).inc()

    def feed_restarted(self, namespace: str) -> None:
        self._restarts.labels(namespace).inc()

    def followed(self, namespace: str, count: int) -> None:
        self._followed.labels(namespace).set(count)

    def scheduler(self, namespace: str, queue: str) -> TermMetrics:
        return _QueueTermMetrics(self, namespace, queue)


def operator_metrics(port: int, host: str = "0.0.0.0"
                     ) -> tuple[PrometheusOperatorMetrics, MetricsEndpoint]:
    """For `kubetask operator --metrics-port`: hooks and their HTTP endpoint."""
    registry = new_registry()
    return PrometheusOperatorMetrics(registry), serve_metrics(registry, port, host)
