"""The chart's etcd on real pods: three members Ready, TLS with client certificates, and one
member's pod deleted while tasks flow loses nothing."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from tests.e2e.deploy import ETCD_MEMBERS, Deployment, etcd_pods
from tests.e2e.etcd import call, client_context, leader
from tests.e2e.kube import Kube, wait_for
from tests.e2e.workload import echo_tasks, names, running_ready, task_queue, wait_finished, wait_workers

log = logging.getLogger(__name__)
QUEUE = "etcdload"


def ready_members(kube: Kube, namespace: str) -> list[dict] | None:
    pods = [p for p in etcd_pods(kube, namespace) if running_ready(p)]
    return pods if len(pods) == ETCD_MEMBERS else None


def test_etcd_three_members_ready_with_tls(kube: Kube, kubetask: Deployment, tmp_path: Path) -> None:
    pods = wait_for("3 etcd members Ready", lambda: ready_members(kube, kubetask.namespace),
                    timeout=60)
    if not kube.local:
        pytest.skip("the members' pod addresses are reachable from here on the local cluster only")
    context = client_context(kube, kubetask.namespace, tmp_path / "tls", certificate=True)
    for pod in pods:
        members = call(pod, context, "/v3/cluster/member/list")["members"]
        assert sorted(m["name"] for m in members) == sorted(p["metadata"]["name"] for p in pods)
        assert all(url.startswith("https://") for m in members for url in m["clientURLs"])
    assert len({leader(pod, context)[1] for pod in pods}) == 1  # one leader, agreed on
    anonymous = client_context(kube, kubetask.namespace, tmp_path / "ca", certificate=False)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(pods[0], anonymous, "/v3/cluster/member/list")  # no client certificate: refused


def test_etcd_member_pod_deleted_under_load_loses_nothing(
        kube: Kube, kubetask: Deployment, tmp_path: Path) -> None:
    """The leader's pod when it can be found (local cluster), else member 0."""
    namespace = kubetask.namespace
    pods = wait_for("3 etcd members Ready", lambda: ready_members(kube, namespace), timeout=60)
    victim = pods[0]
    if kube.local:
        context = client_context(kube, namespace, tmp_path / "tls", certificate=True)
        victim = next(p for p in pods if (ids := leader(p, context))[0] == ids[1])
    kube.apply(task_queue(QUEUE, min_replicas=2, max_replicas=2, max_concurrent=3), namespace=namespace)
    wait_workers(kube, namespace, QUEUE, 2, timeout=120)
    work = echo_tasks(QUEUE, 24, seconds=2)
    kube.apply(*work, namespace=namespace)
    wait_for("a Task running", lambda: any(
        (t.get("status") or {}).get("phase") == "Running" for t in kube.items("tasks", namespace)),
        timeout=60, interval=0.5)
    log.info("deleting etcd member pod %s under load", victim["metadata"]["name"])
    kube.kubectl("delete", "pod", victim["metadata"]["name"], "-n", namespace, "--wait=false")
    final = wait_finished(kube, namespace, names(work), timeout=180)
    assert set(final.values()) == {"Succeeded"}, final
    back = wait_for("3 etcd members Ready again", lambda: ready_members(kube, namespace),
                    timeout=120)
    assert victim["metadata"]["uid"] not in {p["metadata"]["uid"] for p in back}
