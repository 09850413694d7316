"""The kopf handlers, registered on a registry of their own (no module-level state): Tasks
and TaskQueues in, the Operator (kopf's memo) does the work."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kubetask.operator import mapping
from kubetask.operator.kube import GROUP, VERSION
from kubetask.operator.runtime import Operator

log = logging.getLogger(__name__)

TASKS = (GROUP, VERSION, "tasks")
QUEUES = (GROUP, VERSION, "taskqueues")
RETRY_SECONDS = 5  # a handler that failed (etcd unreachable) runs again this soon (kopf: 60)


def registry(operator: Operator) -> kopf.OperatorRegistry:
    """A registry with every handler of the operator, bound to `operator`."""
    reg = kopf.OperatorRegistry()
    _operator_handlers(reg, operator)
    _task_handlers(reg, operator)
    _queue_handlers(reg, operator)
    return reg


def _operator_handlers(reg: kopf.OperatorRegistry, operator: Operator) -> None:
    @kopf.on.login(registry=reg)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=reg)
    async def startup(**_: Any) -> None:
        await operator.start()

    @kopf.on.cleanup(registry=reg)
    async def cleanup(**_: Any) -> None:
        await operator.stop()


def _task_handlers(reg: kopf.OperatorRegistry, operator: Operator) -> None:
    @kopf.on.resume(*TASKS, registry=reg, backoff=RETRY_SECONDS)
    @kopf.on.create(*TASKS, registry=reg, backoff=RETRY_SECONDS)
    async def task_seen(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        await (await operator.tasks(_ns(namespace))).seen(body)

    @kopf.on.delete(*TASKS, registry=reg, backoff=RETRY_SECONDS)
    async def task_deleted(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        await (await operator.tasks(_ns(namespace))).deleted(body)


def _queue_handlers(reg: kopf.OperatorRegistry, operator: Operator) -> None:
    @kopf.on.resume(*QUEUES, registry=reg, backoff=RETRY_SECONDS)
    @kopf.on.create(*QUEUES, registry=reg, backoff=RETRY_SECONDS)
    @kopf.on.update(*QUEUES, field="spec", registry=reg, backoff=RETRY_SECONDS)
    async def queue_applied(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        await operator.apply_queue(_ns(namespace), body)

    @kopf.on.delete(*QUEUES, registry=reg, backoff=RETRY_SECONDS)
    async def queue_deleted(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        await operator.remove_queue(_ns(namespace), body["metadata"]["name"])

    @kopf.timer(*QUEUES, interval=operator.settings.stats_interval, idle=None,
                registry=reg)
    async def queue_status(body: kopf.Body, namespace: str | None, patch: kopf.Patch,
                           **_: Any) -> None:
        status = await operator.queue_status(_ns(namespace), body)
        # only what changed: a patch of equal values would still be a call every tick
        patch.status.update(mapping.changed_fields(body.get("status"), status))


def _ns(namespace: str | None) -> str:
    if namespace is None:  # both CRDs are namespaced: kopf always passes one
        raise kopf.PermanentError("a kubetask resource without a namespace")
    return namespace
