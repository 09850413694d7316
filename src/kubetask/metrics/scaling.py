"""The autoscaler's decisions in Prometheus: replicas wanted and chosen per TaskQueue, scale
events by direction, workers asked to drain (and drains undone)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge


class ScalingMetrics:
    """Counts into `registry` (the operator's): one series per namespace and queue."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["namespace", "queue"]
        self._wanted = Gauge(
            "kubetask_scaling_wanted_replicas",
            "Worker replicas the backlog asks for now (before the stabilisation window "
            "and the step limits).", labels, registry=registry)
        self._desired = Gauge(
            "kubetask_scaling_desired_replicas",
            "Worker replicas the autoscaler chose for the queue's Deployment.", labels,
            registry=registry)
        self._backlog = Gauge(
            "kubetask_scaling_backlog_tasks",
            "Tasks pending (due now) plus tasks assigned or running, as the last decision "
            "saw them.", labels, registry=registry)
        self._decisions = Counter(
            "kubetask_scaling_decisions_total",
            "Scale decisions that changed the replicas, by direction (up, down).",
            [*labels, "direction"], registry=registry)
        self._drains = Counter(
            "kubetask_scaling_drains_total",
            "Workers asked to drain before a scale-in (requested), and requests undone "
            "because their pod stayed (undone).", [*labels, "action"], registry=registry)

    def decided(self, namespace: str, queue: str, *, backlog: int, wanted: int, before: int,
                after: int) -> None:
        self._backlog.labels(namespace, queue).set(backlog)
        self._wanted.labels(namespace, queue).set(wanted)
        self._desired.labels(namespace, queue).set(after)
        if after != before:
            self._decisions.labels(namespace, queue, "up" if after > before else "down").inc()

    def drained(self, namespace: str, queue: str, count: int, *, undone: bool = False) -> None:
        if count:
            self._drains.labels(namespace, queue, "undone" if undone else "requested").inc(count)

    def forget(self, namespace: str, queue: str) -> None:
        """The TaskQueue is gone: its gauges leave the scrape."""
        for gauge in (self._wanted, self._desired, self._backlog):
            with contextlib.suppress(KeyError):  # never set
                gauge.remove(namespace, queue)
