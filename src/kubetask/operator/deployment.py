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


ETCD_TLS_DIR = "/etc/kubetask/etcd"  # the --etcd-tls-secret's files, read-only


def deployment_name(queue: str) -> str:
    return f"{queue}-workers"


def etcd_secret_parts(secret: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The env and the volume that give a worker the etcd Secret `secret` (cert-manager's
    layout: ca.crt, tls.crt, tls.key; optional username and password for etcd's user auth).
    Files in a volume and paths in the environment: no secret in args or env values."""
    files = {"CACERT": "ca.crt", "CERT": "tls.crt", "KEY": "tls.key"}
    env: list[dict[str, Any]] = [
        {"name": f"KUBETASK_ETCD_{name}", "value": f"{ETCD_TLS_DIR}/{file}"}
        for name, file in files.items()]
    env += [{"name": "KUBETASK_ETCD_USER", "valueFrom": {"secretKeyRef": {
                "name": secret, "key": "username", "optional": True}}},
            {"name": "KUBETASK_ETCD_PASSWORD_FILE", "value": f"{ETCD_TLS_DIR}/password"}]
    volume = {"name": "etcd-tls", "secret": {"secretName": secret, "defaultMode": 0o440}}
    return env, volume


def worker_deployment(body: Mapping[str, Any], *, etcd_endpoints: str,
                      default_image: str, etcd_tls_secret: str | None = None,
                      ) -> dict[str, Any]:
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
    if worker.get("prefetch") is not None:
        args += ["--prefetch", str(worker["prefetch"])]
    if worker.get("prefetchHoldSeconds") is not None:
        args += ["--prefetch-hold", f"{float(worker['prefetchHoldSeconds']):g}"]
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
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if etcd_tls_secret:  # "{queue}" in the name: one Secret (one etcd role) per queue
        secret_env, volume = etcd_secret_parts(etcd_tls_secret.replace("{queue}", queue))
        env.extend(secret_env)
        volumes.append(volume)
        container["volumeMounts"].append({"name": "etcd-tls", "mountPath": ETCD_TLS_DIR,
                                          "readOnly": True})
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
                    "volumes": volumes,
                    "containers": [container]}}},
    }
