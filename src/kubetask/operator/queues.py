"""TaskQueues: each one's retry defaults written to etcd, its scheduler run inside the operator
(supervised; the engine's etcd election lets two operators run them safely), and its status
from the engine's stats snapshot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kubetask.errors import KubetaskError
from kubetask.model.task import iso
from kubetask.operator import mapping
from kubetask.operator.deployment import worker_deployment
from kubetask.operator.kube import KubeApi
from kubetask.operator.tasks import NamespaceTasks
from kubetask.scheduler import Scheduler, SchedulerSettings, TermMetrics
from kubetask.store import Keyspace, Store
from kubetask.supervisor import Supervisor

log = logging.getLogger(__name__)


class Schedulers:
    """One scheduler per TaskQueue, on one etcd connection, under one Supervisor."""

    def __init__(self, store: Store, node_id: str,
                 metrics: Callable[[str, str], TermMetrics | None] | None = None) -> None:
        self._store = store
        self._node_id = node_id
        self._metrics = metrics or (lambda namespace, queue: None)
        self._supervisor = Supervisor()
        self._strategies: dict[str, str] = {}

    @property
    def node_id(self) -> str:
        """This operator's name in the queues' elections (its schedulers' node id)."""
        return self._node_id

    async def start(self) -> None:
        await self._store.start()
        await self._supervisor.start()

    async def stop(self) -> None:
        await self._supervisor.stop()
        await self._store.stop()

    async def ensure(self, namespace: str, queue: str, strategy: str) -> None:
        """The queue's scheduler runs with `strategy` (restarted when that changed)."""
        name = f"{namespace}/{queue}"
        if self._strategies.get(name) == strategy:
            return
        if name in self._supervisor:
            await self._supervisor.remove(name)
        settings = SchedulerSettings(queue=queue, node_id=self._node_id, strategy=strategy)
        self._supervisor.add(name, Scheduler(self._store, Keyspace(namespace=namespace), settings,
                                             self._metrics(namespace, queue)))
        self._strategies[name] = strategy
        log.info("scheduler of queue %s (%s) added", name, strategy)

    async def remove(self, namespace: str, queue: str) -> None:
        name = f"{namespace}/{queue}"
        self._strategies.pop(name, None)
        if name in self._supervisor:
            await self._supervisor.remove(name)
            log.info("scheduler of queue %s removed", name)


async def apply_queue(tasks: NamespaceTasks, schedulers: Schedulers, body: Any) -> None:
    """A TaskQueue exists (created, changed, or found at start): settings, scheduler."""
    name, spec = body["metadata"]["name"], body.get("spec") or {}
    await tasks.client.set_queue_config(name, mapping.queue_config(spec))
    await schedulers.ensure(tasks.namespace, name, spec.get("strategy", "round_robin"))
    tasks.queue_changed(name, exists=True)


async def apply_workers(kube: KubeApi, body: Any, replicas: int | None, *,
                        etcd_endpoints: str, default_image: str,
                        etcd_tls_secret: str | None = None) -> dict[str, Any]:
    """Create or repair the queue's worker Deployment with `replicas` (None: the field is
    not ours, an HPA or KEDA sets it); its replica counts for the status."""
    manifest = worker_deployment(body, etcd_endpoints=etcd_endpoints,
                                 default_image=default_image, etcd_tls_secret=etcd_tls_secret)
    if replicas is None:
        del manifest["spec"]["replicas"]
    else:
        manifest["spec"]["replicas"] = replicas
    status = await kube.apply_deployment(manifest)
    return {"replicas": status.get("replicas", 0),
            "readyReplicas": status.get("readyReplicas", 0),
            "desiredReplicas": status.get("replicas", 0) if replicas is None else replicas}


async def queue_status(tasks: NamespaceTasks, body: Any) -> dict[str, Any]:
    """The TaskQueue's status: the queue's counts from one stats snapshot, and conditions."""
    name, generation = body["metadata"]["name"], body["metadata"].get("generation")
    now = iso(time.time()) or ""
    try:
        found = await tasks.client.stats(name)
    except KubetaskError as exc:
        return {"observedGeneration": generation, "conditions": [
            mapping.condition("EtcdReachable", False, "EtcdUnavailable", str(exc), now),
            mapping.condition("Ready", False, "EtcdUnavailable", "etcd is not reachable", now)]}
    counts = found[0].to_dict() if found else {}
    workers = counts.get("workers", 0)
    leader = counts.get("leader")
    ready = leader is not None
    return {
        "pending": counts.get("pending", 0), "running": counts.get("running", 0),
        "retrying": counts.get("retrying", 0), "succeeded": counts.get("succeeded", 0),
        "dead": counts.get("dead", 0), "cancelled": counts.get("cancelled", 0),
        "failedAttempts": counts.get("failed_attempts", 0), "workers": workers,
        "observedGeneration": generation,
        "conditions": [
            mapping.condition("EtcdReachable", True, "Connected", "etcd answered", now),
            mapping.condition("Ready", ready, "SchedulerLeading" if ready else "NoLeader",
                              f"scheduler {leader} leads the queue, {workers} worker(s)"
                              if ready else "no scheduler leads the queue yet", now)],
    }


def _ready(conditions: Any) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in conditions or [])


def became_ready(body: Any, status: dict[str, Any]) -> bool:
    """The TaskQueue is Ready now and was not in its last written status."""
    return _ready(status.get("conditions")) and \
        not _ready((body.get("status") or {}).get("conditions"))


def ready_message(status: dict[str, Any]) -> str:
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    return str(ready["message"])
