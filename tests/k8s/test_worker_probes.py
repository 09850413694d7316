"""The worker Deployment's probes on the real controllers, run by the process kubelet: its
pods become Ready through /readyz once their workers registered in etcd, and a pod whose
etcd is unreachable stays Running but not Ready."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.operator.deployment import worker_deployment
from tests.k8s.cluster import Cluster
from tests.k8s.process_kubelet import ProcessKubelet
from tests.k8s.test_process_kubelet import get_json, ready, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[str]:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    cluster.control_plane.kubectl("create", "namespace", name)
    yield name
    cluster.control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply_workers(cluster: Cluster, ns: str, queue: str, etcd_endpoints: str,
                  replicas: int) -> None:
    """The operator's Deployment of a queue (no TaskQueue owns it here)."""
    body = {"metadata": {"name": queue, "namespace": ns, "uid": str(uuid.uuid4())},
            "spec": {"scaling": {"minReplicas": replicas},
                     "worker": {"shutdownTimeoutSeconds": 2}}}
    manifest = worker_deployment(body, etcd_endpoints=etcd_endpoints,
                                 default_image="kubetask/worker:test")
    del manifest["metadata"]["ownerReferences"]  # the garbage collector would remove it
    cluster.control_plane.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def pods(cluster: Cluster, ns: str, queue: str) -> list[dict[str, Any]]:
    found = get_json(cluster, "pods", "-n", ns, "-l", f"kubetask.io/queue={queue}")
    return list(found["items"])


def test_worker_pods_become_ready_by_their_probe_and_not_without_etcd(
        cluster: Cluster, process_kubelet: ProcessKubelet, etcd: EtcdProcess, ns: str) -> None:
    apply_workers(cluster, ns, "good", etcd.endpoint, replicas=2)
    apply_workers(cluster, ns, "cut-off", f"127.0.0.1:{free_port()}", replicas=1)

    def all_ready() -> list[dict[str, Any]] | None:
        found = pods(cluster, ns, "good")
        return found if len(found) == 2 and all(ready(p) for p in found) else None

    good = wait_for("the good workers Ready", all_ready, timeout=90)
    names = {p["metadata"]["name"] for p in good}
    answered = {(r.pod, r.status) for r in process_kubelet.probes if r.namespace == ns}
    assert {(name, 200) for name in names} <= answered  # Ready through the probe
    port = process_kubelet.port_of(ns, sorted(names)[0], "health")
    assert port is not None and port != 8081  # a free port of its own, passed as the arg

    def refused_twice() -> list[dict[str, Any]] | None:
        (pod,) = pods(cluster, ns, "cut-off") or [None]
        if pod is None:
            return None
        name = pod["metadata"]["name"]
        refusals = [r for r in process_kubelet.probes
                    if (r.namespace, r.pod, r.status) == (ns, name, 503)]
        return [pod] if len(refusals) >= 2 else None

    (pod,) = wait_for("two refused probes of the cut-off worker", refused_twice, timeout=60)
    pod = get_json(cluster, "pod", pod["metadata"]["name"], "-n", ns)
    assert pod["status"]["phase"] == "Running"
    assert not ready(pod)
    (status,) = pod["status"]["containerStatuses"]
    assert status["started"] and not status["ready"]
