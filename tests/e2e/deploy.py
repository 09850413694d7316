"""Deploy kubetask into one namespace of the e2e cluster with the Helm chart (helm/kubetask):
the operator on the chart's ServiceAccount (a namespaced Role: it watches that namespace),
the chart's etcd (3 members, TLS) and its default TaskQueue, the project's images.

The local cluster (hack/cluster) has no volume provisioner: there the etcd members get
hostPath PersistentVolumes under the cluster's state directory, of a StorageClass of their
own; elsewhere (kind) the cluster's default StorageClass provisions them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any

from tests.e2e.kube import CLUSTER_STATE, ROOT, Kube, wait_for

VERSION = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M)
_TAG = VERSION.group(1) if VERSION else "latest"
# Not :latest, whose pull policy is Always: no registry holds these images.
WORKER_IMAGE = os.environ.get("KUBETASK_E2E_WORKER_IMAGE", f"kubetask/worker:{_TAG}")
OPERATOR_IMAGE = os.environ.get("KUBETASK_E2E_OPERATOR_IMAGE", f"kubetask/operator:{_TAG}")
# The local stand-in for the official image (hack/containers/setup.sh); same binary path.
ETCD_IMAGE = os.environ.get("KUBETASK_E2E_ETCD_IMAGE", "localhost/kubetask-etcd:v3.6.16")
CHART = ROOT / "helm" / "kubetask"
RELEASE = "kubetask"
ETCD = f"{RELEASE}-etcd"  # the chart's etcd StatefulSet and client Service
OPERATOR = f"{RELEASE}-operator"
ETCD_MEMBERS = 3
APP_UID = 10001  # the images' USER, the chart's runAsUser
STORAGE_CLASS = "kubetask-e2e-local"
DEPLOY_TIMEOUT = 300


@dataclass(frozen=True)
class Deployment:
    namespace: str
    etcd_endpoints: str


def image_values(prefix: str, image: str) -> list[str]:
    repository, tag = image.rsplit(":", 1)
    return ["--set", f"{prefix}.repository={repository}", "--set", f"{prefix}.tag={tag}"]


def chart_values(namespace: str, storage_class: str) -> list[str]:
    values = [*image_values("operator.image", OPERATOR_IMAGE),
              *image_values("operator.workerImage", WORKER_IMAGE),
              *image_values("etcd.image", ETCD_IMAGE),
              "--set", f"operator.watchNamespace={namespace}",
              "--set", f"etcd.replicas={ETCD_MEMBERS}",
              # The test's tasks are short: small requests, so that the node fits them all.
              "--set", "etcd.resources.requests.cpu=50m", "--set", "etcd.resources.requests.memory=64Mi",
              "--set", "operator.resources.requests.cpu=50m"]
    if storage_class:
        values += ["--set", f"etcd.persistence.storageClassName={storage_class}"]
    return values


def volume_dir(namespace: str) -> Any:
    return CLUSTER_STATE / "volumes" / namespace


def local_volumes(kube: Kube, namespace: str) -> str:
    """hostPath PersistentVolumes for the etcd members (directories owned by the images'
    user) and their StorageClass; returns its name."""
    volumes: list[dict[str, Any]] = [{
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS}, "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Retain"}]
    for i in range(ETCD_MEMBERS):
        path = volume_dir(namespace) / str(i)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, APP_UID, APP_UID)
        volumes.append({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{namespace}-{i}", "labels": {"kubetask.io/e2e": namespace}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": STORAGE_CLASS,
                     "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": str(path), "type": "Directory"}}})
    kube.apply(*volumes, namespace=namespace)
    return STORAGE_CLASS


def deploy_kubetask(kube: Kube, namespace: str) -> Deployment:
    """`helm install` in `namespace` (made by helm); returns once the etcd members and the
    operator are Ready (helm --wait)."""
    kube.kubectl("create", "namespace", namespace)
    storage_class = local_volumes(kube, namespace) if kube.local else ""
    kube.helm("install", RELEASE, str(CHART), "--namespace", namespace,
              *chart_values(namespace, storage_class),
              "--wait", "--timeout", f"{DEPLOY_TIMEOUT}s", timeout=DEPLOY_TIMEOUT + 30)
    return Deployment(namespace=namespace, etcd_endpoints=f"{ETCD}.{namespace}.svc:2379")


def undeploy_kubetask(kube: Kube, namespace: str) -> None:
    """Tasks and TaskQueues first, while the operator still runs to release its finalizers;
    then the release (if a test did not uninstall it), the namespace and the local volumes."""
    kube.kubectl("delete", "tasks,taskqueues", "--all", "-n", namespace, "--wait=true",
                 "--timeout=60s", check=False, timeout=70)
    kube.helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", "60s",
              check=False, timeout=70)
    kube.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=60s",
                 check=False, timeout=70)
    if kube.local:
        kube.kubectl("delete", "pv", "-l", f"kubetask.io/e2e={namespace}", "--wait=true",
                     "--timeout=30s", check=False, timeout=40)
        shutil.rmtree(volume_dir(namespace), ignore_errors=True)


def operator_pod(kube: Kube, namespace: str) -> dict[str, Any]:
    return wait_for("the operator pod", lambda: next(
        (p for p in kube.items("pods", namespace, "app.kubernetes.io/name=kubetask-operator")
         if "deletionTimestamp" not in p["metadata"]), None), timeout=30)


def etcd_pods(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return kube.items("pods", namespace, "app.kubernetes.io/name=kubetask-etcd")
