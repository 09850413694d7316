"""The autoscaler's decision (operator/scaling.py): wanted replicas, step limits, the
stabilisation window, scale to zero, and the choice of the pods removed on scale-in."""

from __future__ import annotations

import pytest

from kubetask.errors import ValidationError
from kubetask.operator.scaling import (
    Autoscaler,
    Demand,
    Member,
    Reason,
    ScalingPolicy,
    idlest,
    wanted_replicas,
)


def policy(**changes: object) -> ScalingPolicy:
    values: dict[str, object] = {"min_replicas": 1, "max_replicas": 4, "max_concurrent": 4,
                                 "scale_down_stabilization": 30.0}
    values.update(changes)
    return ScalingPolicy(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("pending", "running", "expected"), [
    (0, 0, 1), (1, 0, 1), (4, 0, 1), (5, 0, 2), (3, 2, 2), (16, 0, 4), (300, 0, 4)])
def test_wanted_is_the_backlog_over_capacity_clamped(pending: int, running: int,
                                                     expected: int) -> None:
    assert wanted_replicas(policy(), Demand(pending, running)) == expected


def test_target_utilization_lowers_the_capacity_of_a_replica() -> None:
    half = policy(target_utilization=0.5, max_replicas=10)
    assert wanted_replicas(half, Demand(4, 0)) == 2
    assert wanted_replicas(half, Demand(5, 0)) == 3
    exact = policy(target_utilization=0.8, max_concurrent=10, max_replicas=10)
    assert wanted_replicas(exact, Demand(8, 0)) == 1  # not 2 from float rounding


def test_min_zero_wants_zero_only_when_the_queue_is_empty() -> None:
    zero = policy(min_replicas=0)
    assert wanted_replicas(zero, Demand(0, 0)) == 0
    assert wanted_replicas(zero, Demand(1, 0)) == 1


def test_scale_up_is_at_once_within_the_step() -> None:
    scaler = Autoscaler(0.0, 1)
    decision = scaler.decide(policy(max_replicas=10, scale_up_step=2), Demand(40, 0), 1, 1.0)
    assert (decision.replicas, decision.wanted, decision.reason) == (3, 10, Reason.SCALED_UP)
    assert "1 -> 3" in decision.message


def test_scale_down_waits_for_the_whole_window_of_lower_demand() -> None:
    p = policy()
    scaler = Autoscaler(0.0, 1)
    assert scaler.decide(p, Demand(16, 0), 1, 1.0).replicas == 4
    low = Demand(0, 0)
    for now in (5.0, 20.0, 31.0):
        decision = scaler.decide(p, low, 4, now)
        assert (decision.replicas, decision.reason) == (4, Reason.STABILIZING), now
    decision = scaler.decide(p, low, 4, 40.0)  # 16 pending last seen at 1.0: window passed
    assert (decision.replicas, decision.reason) == (1, Reason.SCALED_DOWN)


def test_a_burst_within_the_window_starts_the_wait_again() -> None:
    p = policy()
    scaler = Autoscaler(0.0, 4)
    scaler.decide(p, Demand(0, 0), 4, 10.0)
    assert scaler.decide(p, Demand(0, 16), 4, 25.0).reason is Reason.STEADY
    assert scaler.decide(p, Demand(0, 0), 4, 50.0).replicas == 4  # 16 at 25.0 still counts
    assert scaler.decide(p, Demand(0, 0), 4, 56.0).replicas == 1


def test_scale_down_goes_to_the_highest_demand_of_the_window_within_its_step() -> None:
    p = policy(max_replicas=10, scale_down_step=3)
    scaler = Autoscaler(0.0, 10)
    scaler.decide(p, Demand(20, 0), 10, 10.0)  # wants 5
    decision = scaler.decide(p, Demand(0, 0), 10, 35.0)  # window: 5 at 10.0
    assert (decision.replicas, decision.reason) == (7, Reason.SCALED_DOWN)  # step of 3
    assert scaler.decide(p, Demand(0, 0), 7, 36.0).replicas == 5
    assert scaler.decide(p, Demand(0, 0), 5, 41.0).replicas == 2


def test_no_scale_down_within_a_window_of_the_autoscaler_start() -> None:
    """After an operator restart the replicas found were chosen for some demand: kept one
    window before lowering them."""
    p = policy()
    scaler = Autoscaler(100.0, 3)
    assert scaler.decide(p, Demand(0, 0), 3, 101.0).reason is Reason.STABILIZING
    assert scaler.decide(p, Demand(0, 0), 3, 131.0).replicas == 1


def test_steady_half_load_never_changes_replicas() -> None:
    p = policy()
    scaler = Autoscaler(0.0, 1)
    changes = 0
    current = 1
    for tick in range(1, 25):  # two minutes of 5 s ticks, 2 tasks of 4 slots
        decision = scaler.decide(p, Demand(tick % 2, 1 + tick % 2), current, tick * 5.0)
        changes += decision.changes(current)
        current = decision.replicas
    assert changes == 0 and current == 1


def test_scale_to_zero_and_wake_up() -> None:
    p = policy(min_replicas=0, scale_down_stabilization=10.0)
    scaler = Autoscaler(0.0, 1)
    assert scaler.decide(p, Demand(0, 0), 1, 5.0).replicas == 1
    asleep = scaler.decide(p, Demand(0, 0), 1, 11.0)
    assert (asleep.replicas, asleep.reason) == (0, Reason.SCALED_DOWN)
    awake = scaler.decide(p, Demand(1, 0), 0, 12.0)
    assert (awake.replicas, awake.reason) == (1, Reason.SCALED_UP)


def test_bounds_changed_in_the_spec_apply_at_once() -> None:
    scaler = Autoscaler(0.0, 6)
    lowered = scaler.decide(policy(max_replicas=4, scale_down_step=10), Demand(100, 0), 6, 1.0)
    assert (lowered.replicas, lowered.reason) == (4, Reason.SCALED_DOWN)
    raised = scaler.decide(policy(min_replicas=3), Demand(0, 0), 1, 2.0)
    assert (raised.replicas, raised.reason) == (3, Reason.SCALED_UP)


def test_disabled_leaves_the_replicas_alone() -> None:
    decision = Autoscaler(0.0, 2).decide(policy(enabled=False), Demand(100, 0), 2, 1.0)
    assert (decision.replicas, decision.wanted, decision.reason) == (2, 4, Reason.DISABLED)


def test_policy_of_a_spec_takes_the_crd_defaults() -> None:
    assert ScalingPolicy.of({}) == ScalingPolicy()
    assert ScalingPolicy.of({"scaling": {"minReplicas": 0, "targetUtilization": 0.5,
                                         "scaleDownStabilizationSeconds": 5},
                             "worker": {"maxConcurrent": 2}}) == ScalingPolicy(
        min_replicas=0, target_utilization=0.5, scale_down_stabilization=5.0, max_concurrent=2)


@pytest.mark.parametrize(("scaling", "words"), [
    ({"minReplicas": 5, "maxReplicas": 2}, "minReplicas (5)"),
    ({"targetUtilization": 0}, "targetUtilization"),
    ({"targetUtilization": 1.5}, "targetUtilization"),
    ({"scaleUpStep": 0}, "scaleUpStep"),
    ({"minReplicas": "many"}, "spec.scaling"),
])
def test_a_bad_policy_says_what_to_fix(scaling: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=r"spec\.scaling") as raised:
        ScalingPolicy.of({"scaling": scaling})
    assert words in str(raised.value)


def test_idlest_prefers_unregistered_then_draining_then_fewest_running() -> None:
    members = [Member("busy", 3, True), Member("idle", 0, True), Member("new", 0, False),
               Member("light", 1, True), Member("leaving", 2, True, draining=True)]
    assert [m.name for m in idlest(members, 4)] == ["new", "leaving", "idle", "light"]
    assert idlest(members, 0) == []
