"""The operator's state (kopf's memo): the engine clients per namespace, the schedulers, the
Kubernetes API, and kopf's settings chosen here."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import kopf

from kubetask.client import AsyncClient, parse_endpoints
from kubetask.errors import KubetaskError, ServiceFailed
from kubetask.operator import mapping, queues
from kubetask.operator.autoscaler import Autoscalers
from kubetask.operator.hooks import NoHooks, OperatorHooks
from kubetask.operator.kube import KubeApi
from kubetask.operator.settings import OperatorSettings
from kubetask.operator.tasks import NamespaceTasks
from kubetask.store import Store

log = logging.getLogger(__name__)


def node_id() -> str:
    """The operator's name in etcd elections: its pod's name, else host and pid."""
    return os.environ.get("KUBETASK_NODE_ID") or f"operator-{socket.gethostname()}-{os.getpid()}"


class Operator:
    def __init__(self, settings: OperatorSettings, kube: KubeApi | None = None,
                 hooks: OperatorHooks | None = None) -> None:
        self.settings = settings
        self._kube = kube
        self.hooks: OperatorHooks = hooks or NoHooks()
        self._scaling = Autoscalers(lambda: self.kube, self.hooks.scaling)
        # Set when a part gave up (a bug that repeats): kopf's stop flag, then exit 1.
        self.stopping = asyncio.Event()
        self.failure: ServiceFailed | None = None
        self._namespaces: dict[str, NamespaceTasks] = {}
        self._lock = asyncio.Lock()
        self._schedulers = queues.Schedulers(Store(parse_endpoints(settings.etcd_endpoints),
                                                   credentials=settings.etcd_credentials),
                                             node_id(), self.hooks.scheduler)

    def configure(self, kopf_settings: kopf.OperatorSettings) -> None:
        """kopf's settings, each chosen on purpose (docs/OPERATOR.md, "kopf")."""
        s = kopf_settings
        s.watching.server_timeout = self.settings.server_timeout
        s.watching.client_timeout = self.settings.client_timeout
        s.watching.connect_timeout = 30
        # Progress and the last-handled spec in status.kopf (the CRDs reserve it), not in
        # annotations: nothing grows in a Task's metadata.
        s.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        # A Task's payload (up to 128 KiB) is never copied there: a Task's spec is immutable,
        # no handler diffs it.
        s.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
            field="status.kopf.last-handled-configuration", ignored_fields=["spec.payload"])
        s.persistence.finalizer = "kubetask.io/operator"
        # No kopf peering: two operators both run; the engine keeps that safe (submissions
        # idempotent by uid, one scheduler per queue by etcd election).
        s.peering.standalone = True
        s.posting.level = logging.WARNING  # kopf's own Events: only its failures

    @property
    def kube(self) -> KubeApi:
        if self._kube is None:
            self._kube = KubeApi()
        return self._kube

    async def start(self) -> None:
        await self._schedulers.start()

    async def stop(self) -> None:
        for tasks in self._namespaces.values():
            await tasks.stop()
        self._namespaces.clear()
        await self._schedulers.stop()
        if self._kube is not None:
            self._kube.close()

    async def tasks(self, namespace: str) -> NamespaceTasks:
        """The namespace's Tasks (its engine client and change feed started on first use)."""
        async with self._lock:
            found = self._namespaces.get(namespace)
            if found is None:
                client = AsyncClient(self.settings.etcd_endpoints, namespace=namespace,
                                     credentials=self.settings.etcd_credentials)
                found = NamespaceTasks(namespace, client, self.kube,
                                       linger=self.settings.status_linger, hooks=self.hooks,
                                       on_failure=self.fail)
                await found.start()
                self._namespaces[namespace] = found
            return found

    def fail(self, failure: ServiceFailed) -> None:
        """A part of the operator gave up: the operator stops and the process exits 1."""
        log.error("the operator stops: %s", failure)
        self.failure = self.failure or failure
        self.stopping.set()

    async def apply_queue(self, namespace: str, body: Any) -> None:
        tasks = await self.tasks(namespace)
        await queues.apply_queue(tasks, self._schedulers, body)
        if await self._keeps(tasks, body["metadata"]["name"]) is not False:
            await self.apply_workers(body)

    async def _keeps(self, tasks: NamespaceTasks, queue: str) -> bool | None:
        """Whether this operator keeps the queue's Deployment, scaling and status: True when
        its scheduler leads the queue, or none does yet (a new queue: every operator writes
        the same first values); False when another operator's leads (two operators never
        fight over the replicas: each has its own stabilisation window); None: etcd did
        not answer."""
        try:
            leader = await tasks.client.leader(queue)
        except KubetaskError:
            return None
        return leader is None or leader == self._schedulers.node_id

    async def apply_workers(self, body: Any) -> dict[str, Any]:
        return await queues.apply_workers(self.kube, body, self._scaling.replicas(body),
                                          etcd_endpoints=self.settings.etcd_endpoints,
                                          default_image=self.settings.worker_image,
                                          etcd_tls_secret=self.settings.etcd_tls_secret)

    async def remove_queue(self, namespace: str, name: str) -> None:
        await self._schedulers.remove(namespace, name)
        self._scaling.forget(namespace, name)
        (await self.tasks(namespace)).queue_changed(name, exists=False)

    async def queue_status(self, namespace: str, body: Any) -> dict[str, Any]:
        """The TaskQueue's status; the autoscaler decides (and drains for a scale-in), then
        the Deployment is applied again (its replicas, drift repaired). Only by the operator
        that keeps the queue (`_keeps`); another returns nothing to patch."""
        tasks = await self.tasks(namespace)
        keeps = await self._keeps(tasks, body["metadata"]["name"])
        if keeps is False:
            return {}  # the operator whose scheduler leads the queue writes all of it
        status = await queues.queue_status(tasks, body)
        fields, scaling = await self._scaling.reconcile(tasks.client, body)
        status.update(fields)
        if keeps:  # etcd answered: repair the Deployment (none of it while etcd is away)
            status.update(await self.apply_workers(body))
        if scaling is not None:
            status["conditions"].append(scaling)
        status["conditions"] = mapping.keep_transitions(
            (body.get("status") or {}).get("conditions"), status["conditions"])
        if queues.became_ready(body, status):
            meta = body["metadata"]
            await self.kube.event("TaskQueue", namespace, meta["name"], meta["uid"],
                                  reason="QueueReady", message=queues.ready_message(status))
        return status
