"""The autoscaler's Prometheus figures (metrics/scaling.py) on a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubetask.metrics.scaling import ScalingMetrics


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"namespace": "ns", "queue": "q", **labels})


def test_decisions_count_changes_by_direction_and_gauges_follow_the_last_one() -> None:
    registry = CollectorRegistry()
    metrics = ScalingMetrics(registry)
    metrics.decided("ns", "q", backlog=300, wanted=4, before=1, after=4)
    metrics.decided("ns", "q", backlog=0, wanted=1, before=4, after=4)  # stabilising
    metrics.decided("ns", "q", backlog=0, wanted=1, before=4, after=1)
    assert value(registry, "kubetask_scaling_decisions_total", direction="up") == 1
    assert value(registry, "kubetask_scaling_decisions_total", direction="down") == 1
    assert value(registry, "kubetask_scaling_desired_replicas") == 1
    assert value(registry, "kubetask_scaling_wanted_replicas") == 1
    assert value(registry, "kubetask_scaling_backlog_tasks") == 0
    metrics.drained("ns", "q", 2)
    metrics.drained("ns", "q", 1, undone=True)
    metrics.drained("ns", "q", 0)
    assert value(registry, "kubetask_scaling_drains_total", action="requested") == 2
    assert value(registry, "kubetask_scaling_drains_total", action="undone") == 1


def test_a_forgotten_queue_leaves_the_scrape() -> None:
    registry = CollectorRegistry()
    metrics = ScalingMetrics(registry)
    metrics.decided("ns", "q", backlog=3, wanted=1, before=1, after=1)
    metrics.forget("ns", "q")
    metrics.forget("ns", "never-seen")
    assert value(registry, "kubetask_scaling_desired_replicas") is None
