"""Deploy kubetask into one namespace of the e2e cluster, with plain manifests: the CRDs,
etcd (a Deployment of one pod and a Service), and the operator as a Deployment with its own
ServiceAccount and a namespaced Role (the operator watches that namespace only).

`deploy_kubetask` is the one place that knows how kubetask gets installed: when the Helm
chart (helm/kubetask) exists this becomes a `helm install`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from tests.e2e.kube import ROOT, Kube, wait_for

VERSION = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
_TAG = VERSION.group(1) if VERSION else "latest"
# Not :latest, whose pull policy is Always: no registry holds these images.
WORKER_IMAGE = os.environ.get("KUBETASK_E2E_WORKER_IMAGE", f"kubetask/worker:{_TAG}")
OPERATOR_IMAGE = os.environ.get("KUBETASK_E2E_OPERATOR_IMAGE", f"kubetask/operator:{_TAG}")
# The local stand-in for the official image (hack/containers/setup.sh); same binary path.
ETCD_IMAGE = os.environ.get("KUBETASK_E2E_ETCD_IMAGE", "kubetask-etcd:v3.6.16")
APP_UID = 10001  # the images' USER
DEPLOY_TIMEOUT = 180


@dataclass(frozen=True)
class Deployment:
    namespace: str
    etcd_endpoints: str


def _restricted(uid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def _deployment(name: str, container: dict[str, Any], volumes: list[dict[str, Any]],
                service_account: str = "") -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "kubetask-e2e"}
    pod: dict[str, Any] = {"containers": [container], "volumes": volumes,
                           "terminationGracePeriodSeconds": 10}
    if service_account:
        pod["serviceAccountName"] = service_account
    else:
        pod["automountServiceAccountToken"] = False
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def etcd_objects() -> list[dict[str, Any]]:
    container = {
        "name": "etcd", "image": ETCD_IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/local/bin/etcd", "--data-dir=/var/lib/etcd/data",
                    "--listen-client-urls=http://0.0.0.0:2379",
                    "--advertise-client-urls=http://$(POD_IP):2379"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "client", "containerPort": 2379}],
        "securityContext": _restricted(APP_UID),
        "readinessProbe": {"tcpSocket": {"port": 2379}, "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd"},
               "spec": {"selector": {"app.kubernetes.io/name": "etcd"},
                        "ports": [{"name": "client", "port": 2379, "targetPort": 2379}]}}
    return [service, _deployment("etcd", container, [{"name": "data", "emptyDir": {}}])]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def operator_objects(namespace: str, etcd_endpoints: str) -> list[dict[str, Any]]:
    rules = [
        _rule(["kubetask.io"], ["tasks", "taskqueues"],
              ["get", "list", "watch", "patch", "update", "delete"]),
        _rule(["kubetask.io"], ["tasks/status", "taskqueues/status"], ["get", "patch", "update"]),
        _rule(["apps"], ["deployments"], ["get", "list", "watch", "create", "patch", "update"]),
        _rule([""], ["pods"], ["get", "list", "watch", "patch"]),
        _rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
    ]
    container = {
        "name": "operator", "image": OPERATOR_IMAGE, "imagePullPolicy": "IfNotPresent",
        "args": ["operator", "--etcd-endpoints", etcd_endpoints, "--namespace", namespace,
                 "--worker-image", WORKER_IMAGE, "--health-port", "8080"],
        "ports": [{"name": "health", "containerPort": 8080}],
        "securityContext": _restricted(APP_UID),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kubetask-operator"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "kubetask-operator"}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "kubetask-operator"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "kubetask-operator"},
         "subjects": [{"kind": "ServiceAccount", "name": "kubetask-operator",
                       "namespace": namespace}]},
        _deployment("kubetask-operator", container, [{"name": "tmp", "emptyDir": {}}],
                    service_account="kubetask-operator"),
    ]


def operator_cluster_objects(namespace: str) -> list[dict[str, Any]]:
    """What kopf itself reads at the cluster scope even when it watches one namespace: the
    CRDs (to notice its resources come and go) and the namespaces."""
    name = f"kubetask-operator-{namespace}"
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name},
         "rules": [_rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"]),
                   _rule([""], ["namespaces"], ["list", "watch"])]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": "kubetask-operator",
                       "namespace": namespace}]},
    ]


def rollout(kube: Kube, namespace: str, name: str) -> None:
    kube.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace,
                 f"--timeout={DEPLOY_TIMEOUT}s", timeout=DEPLOY_TIMEOUT + 10)


def deploy_kubetask(kube: Kube, namespace: str) -> Deployment:
    """CRDs, etcd and the operator in `namespace`; returns once the operator's pod is Ready."""
    kube.kubectl("apply", "-f", str(ROOT / "crds"))
    for crd in ("tasks.kubetask.io", "taskqueues.kubetask.io"):
        kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s",
                     timeout=70)
    kube.kubectl("create", "namespace", namespace)
    kube.apply(*etcd_objects(), namespace=namespace)
    rollout(kube, namespace, "etcd")
    # No cluster DNS on the local cluster: the operator and workers use the Service's IP.
    ip = kube.get("service", namespace, "etcd")["spec"]["clusterIP"]
    endpoints = f"{ip}:2379"
    kube.apply(*operator_cluster_objects(namespace), *operator_objects(namespace, endpoints),
               namespace=namespace)
    rollout(kube, namespace, "kubetask-operator")
    return Deployment(namespace=namespace, etcd_endpoints=endpoints)


def undeploy_kubetask(kube: Kube, namespace: str) -> None:
    """Delete the namespace; Tasks and TaskQueues first, while the operator still runs to
    release its finalizers."""
    kube.kubectl("delete", "tasks,taskqueues", "--all", "-n", namespace, "--wait=true",
                 "--timeout=60s", check=False, timeout=70)
    kube.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=60s",
                 check=False, timeout=70)
    name = f"kubetask-operator-{namespace}"
    kube.kubectl("delete", f"clusterrolebinding/{name}", f"clusterrole/{name}",
                 "--ignore-not-found", check=False)


def operator_pod(kube: Kube, namespace: str) -> dict[str, Any]:
    return wait_for("the operator pod", lambda: next(
        iter(kube.items("pods", namespace, "app.kubernetes.io/name=kubetask-operator")), None),
        timeout=30)
