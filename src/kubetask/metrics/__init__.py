"""Prometheus figures of every kubetask process (the only code that imports prometheus_client).

The hook base classes stay with what they observe (scheduler.TermMetrics,
worker.WorkerMetrics: no-ops); the implementations here count into a CollectorRegistry
of each process's own. Names follow DESIGN.md §7: `kubetask_<subsystem>_<what>_<unit>`,
counters end in `_total`, durations in `_seconds`.
"""

from kubetask.metrics.api import ApiMetrics, QueueCollector
from kubetask.metrics.operator import PrometheusOperatorMetrics, operator_metrics
from kubetask.metrics.registry import (
    DURATION_BUCKETS,
    CollectorRegistry,
    MetricsEndpoint,
    encode,
    new_registry,
    serve_metrics,
)
from kubetask.metrics.scheduler import PrometheusTermMetrics, scheduler_metrics
from kubetask.metrics.worker import PrometheusWorkerMetrics, worker_metrics

__all__ = [
    "DURATION_BUCKETS",
    "ApiMetrics",
    "CollectorRegistry",
    "MetricsEndpoint",
    "PrometheusOperatorMetrics",
    "PrometheusTermMetrics",
    "PrometheusWorkerMetrics",
    "QueueCollector",
    "encode",
    "new_registry",
    "operator_metrics",
    "scheduler_metrics",
    "serve_metrics",
    "worker_metrics",
]
