"""The few Kubernetes API calls the operator makes itself (status patches, deletes, Events),
on the official client in a thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from typing import Any

import kubernetes

log = logging.getLogger(__name__)

GROUP, VERSION = "kubetask.io", "v1alpha1"
FIELD_MANAGER = "kubetask-operator"


def load_config() -> None:
    """KUBECONFIG (or ~/.kube/config), else the pod's in-cluster service account."""
    try:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, FileNotFoundError, TypeError):
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]


class NotFound(Exception):
    """The resource is gone (404)."""


class KubeApi:
    def __init__(self) -> None:
        self._client = kubernetes.client.ApiClient()
        self._custom = kubernetes.client.CustomObjectsApi(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._apps = kubernetes.client.AppsV1Api(self._client)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: dict[str, Any]) -> None:
        """Merge-patch `status` into the resource's status subresource (None clears a field)."""
        await self._call(self._custom.patch_namespaced_custom_object_status, GROUP, VERSION,
                         namespace, plural, name, {"status": status})

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        await self._call(self._custom.delete_namespaced_custom_object, GROUP, VERSION,
                         namespace, plural, name)

    async def event(self, kind: str, namespace: str, name: str, uid: str, *, reason: str,
                    message: str, type_: str = "Normal") -> None:
        """A core/v1 Event about the resource (what `kubectl describe` shows)."""
        now = datetime.datetime.now(datetime.UTC)
        body = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{name}.", namespace=namespace),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}", kind=kind, name=name, namespace=namespace,
                uid=uid),
            reason=reason, message=message[:1024], type=type_, first_timestamp=now,
            last_timestamp=now, count=1,
            source=kubernetes.client.V1EventSource(component="kubetask-operator"))
        try:
            await asyncio.to_thread(self._core.create_namespaced_event, namespace, body)
        except kubernetes.client.ApiException as exc:
            log.warning("could not post the %s event on %s %s/%s: %s", reason, kind, namespace,
                        name, exc.reason)

    async def apply_deployment(self, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's field manager, forced: creates the Deployment,
        or puts back every field of ours someone changed (drift). Returns its status."""
        meta = body["metadata"]
        result = await asyncio.to_thread(
            self._apps.patch_namespaced_deployment, meta["name"], meta["namespace"], body,
            field_manager=FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml")
        status = self._client.sanitize_for_serialization(result.status) or {}  # type: ignore[no-untyped-call]
        return dict(status)

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The Pods matching the label `selector`, as plain dicts (camelCase keys)."""
        found = await self._call(functools.partial(self._core.list_namespaced_pod,
                                                   label_selector=selector), namespace)
        return list(self._client.sanitize_for_serialization(found.items))  # type: ignore[no-untyped-call]

    async def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """A JSON merge patch of the Pod (None removes a field); NotFound when it is gone."""
        await self._call(functools.partial(self._core.patch_namespaced_pod,
                                           _content_type="application/merge-patch+json"),
                         name, namespace, patch)

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                raise NotFound(str(exc.reason)) from None
            raise
