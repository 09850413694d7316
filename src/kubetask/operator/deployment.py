"""A TaskQueue's worker Deployment as a manifest (pure): `kubetask worker` pods of the queue,
owned by the TaskQueue, node id = pod name, a restricted securityContext, a grace period
longer than the worker's shutdown timeout, and probes on the worker's health endpoint."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from kubetask.operator.kube import GROUP, VERSION

GRACE_MARGIN_SECONDS = 15  # beyond the worker's shutdown timeout: its drain, then exit
WORKER_USER = 10001  # the worker image's USER (Dockerfile.worker)
HEALTH_PORT = 8081  # the worker's /livez and /readyz, as the container port `health`
# Liveness asks only that the worker's event loop answers (a task runs off the loop, so a
# long task never fails it); a minute of silence restarts the container. Readiness follows
# the worker's registration in etcd (lease, assignment watch) and turns false while draining.
LIVENESS_PROBE = {"httpGet": {"path": "/livez", "port": "health"}, "periodSeconds": 10,
                  "timeoutSeconds": 5, "failureThreshold": 6}
READINESS_PROBE = {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 5,
                   "timeoutSeconds": 3, "failureThreshold": 2}


def deployment_name(queue: str) -> str:
    return f"{queue}-workers"


def worker_deployment(body: Mapping[str, Any], *, etcd_endpoints: str,
                      default_image: str) -> dict[str, Any]:
    """The Deployment the operator keeps for the TaskQueue `body` (replicas = minReplicas)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    queue, namespace = meta["name"], meta["namespace"]
    worker, scaling = spec.get("worker") or {}, spec.get("scaling") or {}
    shutdown = float(worker.get("shutdownTimeoutSeconds", 30))
    labels = {"app.kubernetes.io/name": "kubetask-worker",
              "app.kubernetes.io/managed-by": "kubetask-operator", f"{GROUP}/queue": queue}
    args = ["worker", "--queue", queue, "--etcd-endpoints", etcd_endpoints,
            "--namespace", namespace, "--max-concurrent", str(worker.get("maxConcurrent", 10)),
            "--weight", str(worker.get("weight", 1)), "--shutdown-timeout", f"{shutdown:g}",
            "--health-host", "0.0.0.0", "--health-port", str(HEALTH_PORT)]
    for module in worker.get("imports") or []:
        args += ["--import", module]
    env = [{"name": "KUBETASK_NODE_ID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *({"name": e["name"], "value": e.get("value", "")} for e in worker.get("env") or [])]
    container: dict[str, Any] = {
        "name": "worker", "image": worker.get("image") or default_image, "args": args,
        "env": env, "ports": [{"name": "health", "containerPort": HEALTH_PORT}],
        "livenessProbe": copy.deepcopy(LIVENESS_PROBE),
        "readinessProbe": copy.deepcopy(READINESS_PROBE),
        # Pod security "restricted", and a read-only root: only /tmp (an emptyDir) is writable.
        "securityContext": {
            "allowPrivilegeEscalation": False, "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}
    if worker.get("resources"):
        container["resources"] = worker["resources"]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deployment_name(queue), "namespace": namespace, "labels": labels,
                     "ownerReferences": [{
                         "apiVersion": f"{GROUP}/{VERSION}", "kind": "TaskQueue",
                         "name": queue, "uid": meta["uid"], "controller": True,
                         "blockOwnerDeletion": True}]},
        "spec": {
            "replicas": int(scaling.get("minReplicas", 1)),
            "selector": {"matchLabels": {f"{GROUP}/queue": queue,
                                         "app.kubernetes.io/name": "kubetask-worker"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": math.ceil(shutdown) + GRACE_MARGIN_SECONDS,
                    # runAsGroup too: without it containerd runs the image's user with gid 0.
                    "securityContext": {"runAsNonRoot": True, "runAsUser": WORKER_USER,
                                        "runAsGroup": WORKER_USER, "fsGroup": WORKER_USER,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                    "containers": [container]}}},
    }
