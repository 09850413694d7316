"""The autoscaler's decision, pure (no I/O, the clock passed in): a TaskQueue's wanted worker
replicas from its backlog, scale-up at once within a step, scale-down only after the
stabilisation window, and which workers to remove on scale-in (the idlest)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubetask.errors import ValidationError


class Reason(StrEnum):
    """Why the last decision is what it is (the TaskQueue's `Scaling` condition reason)."""

    SCALED_UP = "ScaledUp"
    SCALED_DOWN = "ScaledDown"
    STABILIZING = "Stabilizing"  # demand is lower, the window has not passed yet
    STEADY = "Steady"  # the replicas match the demand
    DISABLED = "Disabled"  # spec.scaling.enabled is false: replicas left to others


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """A TaskQueue's spec.scaling (and the capacity of one worker, spec.worker.maxConcurrent)."""

    enabled: bool = True
    min_replicas: int = 1
    max_replicas: int = 10
    target_utilization: float = 1.0  # share of each worker's slots the backlog should fill
    scale_down_stabilization: float = 60.0  # seconds of lower demand before scaling down
    scale_up_step: int = 4  # at most this many replicas added per decision
    scale_down_step: int = 4  # at most this many removed per decision
    max_concurrent: int = 10

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.min_replicas <= self.max_replicas:
            problems.append(f"minReplicas ({self.min_replicas}) must be between 0 and "
                            f"maxReplicas ({self.max_replicas})")
        if not 0 < self.target_utilization <= 1:
            problems.append(f"targetUtilization ({self.target_utilization}) must be in (0, 1]")
        if self.scale_down_stabilization < 0:
            problems.append("scaleDownStabilizationSeconds must be 0 or more")
        if self.scale_up_step < 1 or self.scale_down_step < 1:
            problems.append("scaleUpStep and scaleDownStep must be 1 or more")
        if self.max_concurrent < 1:
            problems.append("worker.maxConcurrent must be 1 or more")
        if problems:
            raise ValidationError("spec.scaling: " + "; ".join(problems))

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> ScalingPolicy:
        """The policy of a TaskQueue's spec (the CRD's defaults where a field is unset)."""
        scaling, worker = spec.get("scaling") or {}, spec.get("worker") or {}
        try:
            return cls(
                enabled=bool(scaling.get("enabled", True)),
                min_replicas=int(scaling.get("minReplicas", 1)),
                max_replicas=int(scaling.get("maxReplicas", 10)),
                target_utilization=float(scaling.get("targetUtilization", 1.0)),
                scale_down_stabilization=float(scaling.get("scaleDownStabilizationSeconds", 60)),
                scale_up_step=int(scaling.get("scaleUpStep", 4)),
                scale_down_step=int(scaling.get("scaleDownStep", 4)),
                max_concurrent=int(worker.get("maxConcurrent", 10)))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"spec.scaling: {exc}") from exc

    def clamp(self, replicas: int) -> int:
        return min(max(replicas, self.min_replicas), self.max_replicas)


@dataclass(frozen=True, slots=True)
class Demand:
    """The queue's backlog as the engine counts it: tasks pending and due now (delayed
    tasks join when due), and tasks assigned to or running on a worker."""

    pending: int
    running: int

    @property
    def total(self) -> int:
        return self.pending + self.running


def wanted_replicas(policy: ScalingPolicy, demand: Demand) -> int:
    """ceil(backlog / (maxConcurrent x targetUtilization)), within [min, max]; an empty
    queue wants minReplicas (0 scales to zero)."""
    per_replica = policy.max_concurrent * policy.target_utilization
    # the epsilon keeps 8 / (10 x 0.8) at 1, not 2, whatever the float rounding
    return policy.clamp(math.ceil(demand.total / per_replica - 1e-9))


@dataclass(frozen=True, slots=True)
class Decision:
    replicas: int  # what the Deployment should run now
    wanted: int  # what the demand alone asks for now
    reason: Reason
    message: str

    def changes(self, current: int) -> bool:
        return self.replicas != current


class Autoscaler:
    """One TaskQueue's decisions over time. Like the HPA's stabilisation window, a scale-down
    goes to the highest replicas wanted within the window: demand must stay lower for the
    whole window, so a dip never removes workers that are needed again a moment later."""

    def __init__(self, now: float, current: int) -> None:
        # what the present replicas were chosen for: no scale-down within a window of start
        self._wanted: deque[tuple[float, int]] = deque([(now, current)])

    def decide(self, policy: ScalingPolicy, demand: Demand, current: int,
               now: float) -> Decision:
        """The replicas to run now, given `current` (the Deployment's replicas)."""
        wanted = wanted_replicas(policy, demand)
        self._remember(now, wanted, policy.scale_down_stabilization)
        if not policy.enabled:
            return Decision(current, wanted, Reason.DISABLED,
                            "spec.scaling.enabled is false: the replicas are left alone")
        backlog = f"{demand.pending} pending + {demand.running} running"
        if wanted > current or current < policy.min_replicas:
            target = min(max(wanted, policy.min_replicas), current + policy.scale_up_step)
            return Decision(target, wanted, Reason.SCALED_UP,
                            f"{backlog} want {wanted} replica(s): {current} -> {target}")
        highest = max(w for _, w in self._wanted)
        floor = max(highest, wanted)
        if current > policy.max_replicas:  # maxReplicas was lowered: at once
            floor = min(floor, policy.max_replicas)
        if floor < current:
            target = max(floor, current - policy.scale_down_step)
            return Decision(target, wanted, Reason.SCALED_DOWN,
                            f"{backlog} want {wanted} replica(s) for "
                            f"{policy.scale_down_stabilization:g} s: {current} -> {target}")
        if wanted < current:
            return Decision(current, wanted, Reason.STABILIZING,
                            f"{backlog} want {wanted} replica(s); {current} kept until the "
                            f"demand stays lower for {policy.scale_down_stabilization:g} s")
        return Decision(current, wanted, Reason.STEADY,
                        f"{backlog}: {current} replica(s) match the demand")

    def _remember(self, now: float, wanted: int, window: float) -> None:
        self._wanted.append((now, wanted))
        while self._wanted and self._wanted[0][0] < now - window:
            self._wanted.popleft()


@dataclass(frozen=True, slots=True)
class Member:
    """A worker pod as scale-in sees it."""

    name: str  # the pod's name: its worker's node id
    running: int  # tasks assigned to or running on its worker (0: none, or not registered)
    registered: bool  # its worker is in etcd
    draining: bool = False  # already asked to drain


def idlest(members: Iterable[Member], count: int) -> list[Member]:
    """The `count` pods to remove: those whose worker has not registered yet first (nothing
    to lose), then already draining ones, then the fewest running tasks; ties by name."""
    ranked = sorted(members, key=lambda m: (m.registered, not m.draining, m.running, m.name))
    return ranked[:max(count, 0)]
