"""Each TaskQueue's autoscaling, every status tick: the decision (operator.scaling) from the
engine's stats; on scale-in the idlest workers asked to drain in etcd and their pods given a
low `controller.kubernetes.io/pod-deletion-cost` *before* the replicas are lowered, so the
ReplicaSet controller removes exactly those; a drained worker whose pod stayed is undone;
an Event and metrics per change; the status fields and the `Scaling` condition."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubetask.client import AsyncClient
from kubetask.client.stats import QueueStats
from kubetask.errors import KubetaskError, ValidationError, WorkerNotFound
from kubetask.metrics.scaling import ScalingMetrics
from kubetask.model.task import iso
from kubetask.operator import mapping
from kubetask.operator.kube import GROUP, KubeApi, NotFound
from kubetask.operator.scaling import (
    Autoscaler,
    Decision,
    Demand,
    Member,
    Reason,
    ScalingPolicy,
    idlest,
)
from kubetask.trouble import Trouble

log = logging.getLogger(__name__)

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
DRAINED_COST = "-1000"  # below every pod without the annotation (0)
# After the pods' costs are written, before the replicas are lowered: the ReplicaSet
# controller ranks pods from its own watch of them, which must have seen the costs.
SETTLE_SECONDS = 1.0


@dataclass
class QueueScaling:
    """What the operator remembers of one TaskQueue's scaling."""

    scaler: Autoscaler
    replicas: int  # what the Deployment is given
    last_scale_time: str | None = None
    last_reason: str | None = None
    decision: Decision | None = None
    etcd: Trouble = field(default_factory=Trouble)  # etcd unreachable, tick after tick


class Autoscalers:
    """The autoscaling of every TaskQueue the operator serves."""

    def __init__(self, kube: Callable[[], KubeApi], metrics: ScalingMetrics | None = None, *,
                 clock: Callable[[], float] = time.time,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self._kube = kube
        self._metrics = metrics
        self._clock = clock
        self._settle = settle_seconds
        self._queues: dict[tuple[str, str], QueueScaling] = {}

    def replicas(self, body: Any) -> int | None:
        """The replicas the Deployment should have now (None: scaling is off, left alone)."""
        spec = body.get("spec") or {}
        if not (spec.get("scaling") or {}).get("enabled", True):
            return None
        return self._state(body).replicas

    def forget(self, namespace: str, name: str) -> None:
        self._queues.pop((namespace, name), None)
        if self._metrics is not None:
            self._metrics.forget(namespace, name)

    def _state(self, body: Any) -> QueueScaling:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        state = self._queues.get(key)
        if state is None:
            status, scaling = body.get("status") or {}, (body.get("spec") or {}).get("scaling") or {}
            # after a restart: what the last operator chose (status), else minReplicas
            start = int(status.get("desiredReplicas", scaling.get("minReplicas", 1)))
            state = QueueScaling(Autoscaler(self._clock(), start), start,
                                 last_scale_time=status.get("lastScaleTime"),
                                 last_reason=status.get("lastScaleReason"))
            self._queues[key] = state
        return state

    async def reconcile(self, client: AsyncClient, body: Any) -> tuple[dict[str, Any],
                                                                      dict[str, Any] | None]:
        """Decide, drain for a scale-in, undo drains that are not needed: the status fields
        and the `Scaling` condition (None: no decision this time, etcd unreachable)."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        now_iso = iso(self._clock()) or ""
        try:
            policy = ScalingPolicy.of(body.get("spec") or {})
        except ValidationError as exc:
            return {}, mapping.condition("Scaling", False, "InvalidSpec", str(exc), now_iso)
        state = self._state(body)
        try:
            found = await client.stats(name)
        except KubetaskError as exc:
            # Once per outage (the tick repeats every few seconds), then at debug.
            log.log(state.etcd.failed("unreachable"), "queue %s/%s: no scale decision, etcd "
                    "unreachable: %s (repeats of this are logged at debug level)", namespace,
                    name, exc)
            return {}, None
        recovery = state.etcd.recovered()
        if recovery is not None:
            log.info("queue %s/%s: etcd reachable again after %.0fs; scale decisions resume",
                     namespace, name, recovery.seconds)
        stats = found[0] if found else None
        try:
            decision = await self._decide(client, body, policy, state, stats)
        except Exception as exc:  # the API server's or etcd's trouble: the next tick retries
            log.exception("queue %s/%s: the scale decision failed; replicas kept at %d",
                          namespace, name, state.replicas)
            return {}, mapping.condition("Scaling", False, "ScaleFailed",
                                         f"the last scale decision failed: {exc}", now_iso)
        before = state.replicas
        state.decision, state.replicas = decision, decision.replicas
        demand = _demand(stats)
        if decision.changes(before):
            state.last_scale_time, state.last_reason = now_iso, decision.reason.value
            log.info("queue %s/%s scaled: %s", namespace, name, decision.message)
            await self._kube().event("TaskQueue", namespace, name, meta["uid"],
                                     reason=decision.reason.value, message=decision.message)
        if self._metrics is not None:
            self._metrics.decided(namespace, name, backlog=demand.total,
                                  wanted=decision.wanted, before=before, after=decision.replicas)
        return self._status(state, policy), self._condition(decision, now_iso)

    async def _decide(self, client: AsyncClient, body: Any, policy: ScalingPolicy,
                      state: QueueScaling, stats: QueueStats | None) -> Decision:
        """The decision; for a scale-in, the chosen workers drained before it returns."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        before = state.replicas
        pods: list[dict[str, Any]] = []
        if policy.enabled:
            pods = await self._kube().list_pods(namespace, f"{GROUP}/queue={name}")
            await self._undo_drains(client, namespace, name, pods, before)
        decision = state.scaler.decide(policy, _demand(stats), before, self._clock())
        if decision.replicas < before:
            await self._drain_idlest(client, namespace, name, pods, stats,
                                     before - decision.replicas)
        return decision

    @staticmethod
    def _status(state: QueueScaling, policy: ScalingPolicy) -> dict[str, Any]:
        assert state.decision is not None
        fields: dict[str, Any] = {"wantedReplicas": state.decision.wanted,
                                  "lastScaleTime": state.last_scale_time,
                                  "lastScaleReason": state.last_reason}
        if policy.enabled:
            fields["desiredReplicas"] = state.replicas
        return fields

    @staticmethod
    def _condition(decision: Decision, now: str) -> dict[str, Any]:
        """`Scaling`: True while the autoscaler acts on the queue (its reason: the last
        decision's); False when switched off."""
        return mapping.condition("Scaling", decision.reason is not Reason.DISABLED,
                                 decision.reason.value, decision.message, now)

    # --- scale-in ------------------------------------------------------------------------
    async def _drain_idlest(self, client: AsyncClient, namespace: str, queue: str,
                            pods: list[dict[str, Any]], stats: QueueStats | None,
                            count: int) -> None:
        """Ask the `count` idlest workers to drain and mark their pods the cheapest to
        delete; the caller lowers the replicas next."""
        running = {w.info.id: w.running for w in stats.workers} if stats else {}
        draining = set(await client.draining_workers(queue))
        members = [Member(name, running.get(name, 0), name in running, name in draining)
                   for name in _live_pod_names(pods)]
        victims = idlest(members, count)
        asked = 0
        for member in victims:
            if member.registered and not member.draining:
                with contextlib.suppress(WorkerNotFound):  # it left meanwhile: nothing to do
                    asked += await client.drain_worker(queue, member.name)
            with contextlib.suppress(NotFound):
                await self._kube().patch_pod(namespace, member.name, {
                    "metadata": {"annotations": {DELETION_COST: DRAINED_COST}}})
        log.info("queue %s/%s scale-in: pods %s chosen (fewest running tasks)", namespace,
                 queue, ", ".join(m.name for m in victims) or "none")
        if self._metrics is not None:
            self._metrics.drained(namespace, queue, asked)
        if victims:
            await asyncio.sleep(self._settle)

    async def _undo_drains(self, client: AsyncClient, namespace: str, queue: str,
                           pods: list[dict[str, Any]], replicas: int) -> None:
        """Once the ReplicaSet is down to `replicas`, a pod this autoscaler marked that is
        still there (another pod went instead, or the demand came back) is undone: its
        worker takes tasks again, its pod loses the low deletion cost."""
        live = _live_pod_names(pods)
        if len(live) > replicas:
            return  # the ReplicaSet controller has not removed its pods yet
        marked = [name for name, pod in live.items()
                  if ((pod.get("metadata") or {}).get("annotations") or {}).get(
                      DELETION_COST) == DRAINED_COST]
        undone = 0
        for name in marked:
            undone += await client.undrain_worker(queue, name)
            with contextlib.suppress(NotFound):
                await self._kube().patch_pod(namespace, name, {
                    "metadata": {"annotations": {DELETION_COST: None}}})
            log.info("queue %s/%s: pod %s stays; its drain is undone", namespace, queue, name)
        if self._metrics is not None:
            self._metrics.drained(namespace, queue, undone, undone=True)


def _demand(stats: QueueStats | None) -> Demand:
    return Demand(stats.counts.pending, stats.counts.running) if stats else Demand(0, 0)


def _live_pod_names(pods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pods not being deleted, by name (a pod's name is its worker's node id)."""
    return {p["metadata"]["name"]: p for p in pods
            if not p["metadata"].get("deletionTimestamp")}
