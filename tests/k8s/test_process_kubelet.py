"""The real controllers and scheduler with the process kubelet: a Deployment becomes a
ReplicaSet and Pods that run as local processes, and scaling down ends one gracefully."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.k8s.cluster import Cluster
from tests.k8s.process_kubelet import ProcessKubelet

T = TypeVar("T")

# Prints its downward-API env, then runs until SIGTERM, which it answers by exiting 0.
SERVE = (
    "import os, signal, sys, time\n"
    "def stop(*_):\n"
    "    print('SIGTERM', flush=True)\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('pod', os.environ['POD_NAME'], os.environ['POD_NAMESPACE'], os.environ['POD_IP'],"
    " flush=True)\n"
    "for _ in range(6000):\n"
    "    time.sleep(0.1)\n"
)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `probe` (at most `timeout` seconds, every 0.2 s) until it returns a truthy value."""
    last: T | None = None
    for _ in range(int(timeout / 0.2)):
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.control_plane.kubectl("get", *args, "-o", "json").stdout)


def ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    statuses = pod["status"].get("containerStatuses", [])
    return (pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True"
            and bool(statuses) and all(s["ready"] and s["started"] for s in statuses))


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    cluster.control_plane.kubectl("create", "namespace", name)
    yield name
    cluster.control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_node_is_ready_and_renews_its_lease(cluster: Cluster,
                                            process_kubelet: ProcessKubelet) -> None:
    node = get_json(cluster, "node", process_kubelet.node)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    lease = get_json(cluster, "lease", process_kubelet.node, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == process_kubelet.node


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    def field(path: str) -> dict[str, Any]:
        return {"valueFrom": {"fieldRef": {"fieldPath": path}}}

    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 20, "containers": [{
                "name": "serve", "image": "python:3.11-slim",
                "command": [sys.executable, "-c", SERVE],
                "env": [{"name": "POD_NAME", **field("metadata.name")},
                        {"name": "POD_NAMESPACE", **field("metadata.namespace")},
                        {"name": "POD_IP", **field("status.podIP")}]}]}}},
    }


def test_deployment_runs_as_processes_and_scales_down_gracefully(
        cluster: Cluster, process_kubelet: ProcessKubelet, namespace: str) -> None:
    kubectl = cluster.control_plane.kubectl
    kubectl("apply", "-f", "-", input=json.dumps(deployment("app", namespace, 2)))

    def running_pods() -> list[dict[str, Any]] | None:
        pods = get_json(cluster, "pods", "-n", namespace)["items"]
        return pods if len(pods) == 2 and all(ready(p) for p in pods) else None

    pods = wait_for("2 Running and Ready pods", running_pods)
    replica_sets = get_json(cluster, "replicasets", "-n", namespace)["items"]
    assert len(replica_sets) == 1
    assert replica_sets[0]["metadata"]["ownerReferences"][0]["name"] == "app"
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["name"] == replica_sets[0]["metadata"]["name"]
        assert pod["spec"]["nodeName"] == process_kubelet.node
        name = pod["metadata"]["name"]
        log = process_kubelet.log_path(namespace, name, "serve")
        assert log is not None
        wait_for(f"{name}'s first line", log.read_text)
        assert log.read_text().splitlines()[0] == f"pod {name} {namespace} 127.0.0.1"

    kubectl("scale", "deployment/app", "--replicas=1", "-n", namespace)

    def one_left() -> list[str] | None:
        names = [p["metadata"]["name"] for p in get_json(cluster, "pods", "-n", namespace)["items"]]
        return names if len(names) == 1 else None

    left = wait_for("one pod left", one_left)
    (gone,) = {p["metadata"]["name"] for p in pods} - set(left)
    exits = [e for e in process_kubelet.exits if (e.namespace, e.pod) == (namespace, gone)]
    assert [(e.code, e.terminated, e.killed) for e in exits] == [(0, True, False)]
    gone_log = process_kubelet.log_path(namespace, gone, "serve")
    assert gone_log is not None
    assert gone_log.read_text().splitlines()[-1] == "SIGTERM"
    assert not [e for e in process_kubelet.exits if (e.namespace, e.pod) == (namespace, left[0])]

    # Deleting the Deployment: the garbage collector follows ownerReferences to its
    # ReplicaSet and the last Pod, which the process kubelet stops in turn.
    kubectl("delete", "deployment", "app", "-n", namespace)

    def all_gone() -> bool:
        return not get_json(cluster, "replicasets,pods", "-n", namespace)["items"]

    wait_for("the ReplicaSet and its Pod to be collected", all_gone)
    exits = [e for e in process_kubelet.exits if (e.namespace, e.pod) == (namespace, left[0])]
    assert [(e.code, e.terminated, e.killed) for e in exits] == [(0, True, False)]


def test_pod_that_ignores_sigterm_is_killed_after_its_grace_period(
        cluster: Cluster, process_kubelet: ProcessKubelet, namespace: str) -> None:
    stubborn = ("import signal, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ignoring SIGTERM', flush=True)\n"
                "for _ in range(6000):\n"
                "    time.sleep(0.1)\n")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn", "namespace": namespace},
           "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
               "name": "main", "image": "none", "command": [sys.executable, "-c", stubborn]}]}}
    kubectl = cluster.control_plane.kubectl
    kubectl("apply", "-f", "-", input=json.dumps(pod))

    def started() -> bool:
        log = process_kubelet.log_path(namespace, "stubborn", "main")
        return log is not None and "ignoring SIGTERM" in log.read_text()

    wait_for("the process to ignore SIGTERM", started)
    kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=true", "--timeout=60s")
    exits = [e for e in process_kubelet.exits if (e.namespace, e.pod) == (namespace, "stubborn")]
    assert [(e.code, e.terminated, e.killed) for e in exits] == [(128 + 9, True, True)]


def test_pod_that_fails_is_reported_with_its_exit_code(
        cluster: Cluster, process_kubelet: ProcessKubelet, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once", "namespace": namespace},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "fail", "image": "none", "command": [sys.executable, "-c", "exit(3)"]}]}}
    cluster.control_plane.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def failed() -> dict[str, Any] | None:
        status = get_json(cluster, "pod", "once", "-n", namespace)["status"]
        return status if status.get("phase") == "Failed" else None

    status = wait_for("phase Failed", failed)
    (container,) = status["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 3
    assert container["restartCount"] == 0
