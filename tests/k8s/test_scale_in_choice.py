"""Scale-in's choice and its undo, step by step: the operator's Autoscalers in this process
against a real kube-apiserver (bare Pods, no controllers: the test plays the ReplicaSet
controller by deleting a Pod) and real workers on a real etcd."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from kubetask.client import AsyncClient
from kubetask.model import TaskState, WorkerState
from kubetask.operator.autoscaler import DELETION_COST, DRAINED_COST, Autoscalers
from kubetask.operator.kube import KubeApi
from kubetask.operator.queues import apply_workers
from kubetask.worker import WorkerSettings
from tests.harness import InProcessSystem
from tests.k8s.cluster import ControlPlane

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def kube_api(control_plane: ControlPlane) -> Iterator[KubeApi]:
    kubernetes.config.load_kube_config(config_file=str(control_plane.kubeconfig))  # type: ignore[no-untyped-call]
    api = KubeApi()
    yield api
    api.close()


@pytest.fixture
def k8s_ns(control_plane: ControlPlane) -> str:
    name = f"scale-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    return name


def make_pod(plane: ControlPlane, ns: str, name: str) -> None:
    plane.api.create(f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"kubetask.io/queue": "q"}},
        # no scheduler takes it: it never runs on the process kubelet if one is up
        "spec": {"schedulerName": "nobody", "containers": [{"name": "worker",
                                                            "image": "kubetask/worker"}]}})


def cost(plane: ControlPlane, ns: str, name: str) -> str | None:
    pod = plane.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    annotations: dict[str, str] = pod["metadata"].get("annotations") or {}
    return annotations.get(DELETION_COST)


def queue_body(ns: str, desired: int) -> dict[str, Any]:
    return {"metadata": {"name": "q", "namespace": ns, "uid": str(uuid.uuid4())},
            "spec": {"worker": {"maxConcurrent": 2},
                     "scaling": {"minReplicas": 1, "maxReplicas": 2,
                                 "scaleDownStabilizationSeconds": 0}},
            "status": {"desiredReplicas": desired}}


async def state_of(client: AsyncClient, worker: str) -> WorkerState | None:
    return next((w.state for w in await client.workers("q") if w.id == worker), None)


async def test_scale_in_drains_the_idle_worker_and_undoes_it_when_another_pod_went(
        control_plane: ControlPlane, kube_api: KubeApi, k8s_ns: str,
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler(queue="q")
    await system.worker(WorkerSettings(queue="q", node_id="busy", max_concurrent=2))
    task = await client.submit("echo", {"duration": 30}, queue="q")
    async with asyncio.timeout(15):
        while (await client.get(task.id)).state is not TaskState.RUNNING:
            await asyncio.sleep(0.05)
    await system.worker(WorkerSettings(queue="q", node_id="idle", max_concurrent=2))
    for name in ("busy", "idle"):
        make_pod(control_plane, k8s_ns, name)
    scaling = Autoscalers(lambda: kube_api, settle_seconds=0)
    body = queue_body(k8s_ns, desired=2)

    fields, condition = await scaling.reconcile(client, body)  # 1 running wants 1 of 2

    assert fields["desiredReplicas"] == 1 and fields["lastScaleReason"] == "ScaledDown"
    assert condition is not None and condition["reason"] == "ScaledDown"
    assert await client.draining_workers("q") == ["idle"]
    assert (cost(control_plane, k8s_ns, "idle"), cost(control_plane, k8s_ns, "busy")) == (
        DRAINED_COST, None)
    assert scaling.replicas(body) == 1
    # the ReplicaSet controller has not acted yet (2 pods for 1 replica): nothing undone
    await scaling.reconcile(client, body)
    assert await client.draining_workers("q") == ["idle"]
    async with asyncio.timeout(10):
        while await state_of(client, "idle") is not WorkerState.DRAINING:
            await asyncio.sleep(0.05)

    # it removed the other pod (say: the busy one was not ready): the drained one stays
    control_plane.api.delete(f"/api/v1/namespaces/{k8s_ns}/pods/busy",
                             {"gracePeriodSeconds": 0})
    await scaling.reconcile(client, body)

    assert await client.draining_workers("q") == []
    assert cost(control_plane, k8s_ns, "idle") is None
    async with asyncio.timeout(10):
        while await state_of(client, "idle") is not WorkerState.ACTIVE:
            await asyncio.sleep(0.05)
    events = json.loads(control_plane.kubectl(
        "get", "events", "-n", k8s_ns, "-o", "json").stdout)["items"]
    assert [e["reason"] for e in events] == ["ScaledDown"]
    assert "1 pending + 0 running" not in events[0]["message"]
    assert "0 pending + 1 running" in events[0]["message"]


def deployment_replicas(plane: ControlPlane, ns: str) -> int:
    found = plane.api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/q-workers")
    return int(found["spec"]["replicas"])


async def test_scaling_disabled_leaves_the_replicas_to_whoever_sets_them(
        control_plane: ControlPlane, kube_api: KubeApi, k8s_ns: str) -> None:
    """`spec.scaling.enabled: false`: the operator's apply no longer sets spec.replicas, so
    what an HPA or KEDA (here: kubectl scale) sets stays."""
    control_plane.install_crds()
    control_plane.kubectl("apply", "-n", k8s_ns, "-f", "-", input=json.dumps({
        "apiVersion": "kubetask.io/v1alpha1", "kind": "TaskQueue", "metadata": {"name": "q"},
        "spec": {"scaling": {"minReplicas": 3, "maxReplicas": 5}}}))
    body = json.loads(control_plane.kubectl("get", "taskqueue", "q", "-n", k8s_ns, "-o",
                                            "json").stdout)
    scaling = Autoscalers(lambda: kube_api, settle_seconds=0)

    async def apply(body: dict[str, Any]) -> dict[str, Any]:
        # an image the process kubelet does not run, if the controllers are up
        return await apply_workers(kube_api, body, scaling.replicas(body),
                                   etcd_endpoints="127.0.0.1:1",
                                   default_image="example.org/never-run:1")

    try:
        await check_replicas(body, apply, scaling, control_plane, k8s_ns)
    finally:
        control_plane.kubectl("delete", "deployment", "q-workers", "-n", k8s_ns,
                              "--wait=false", check=False)


async def check_replicas(body: dict[str, Any], apply: Any, scaling: Autoscalers,
                         control_plane: ControlPlane, k8s_ns: str) -> None:
    assert (await apply(body))["desiredReplicas"] == 3
    assert deployment_replicas(control_plane, k8s_ns) == 3
    body["spec"]["scaling"]["enabled"] = False
    assert scaling.replicas(body) is None
    await apply(body)
    control_plane.kubectl("scale", "deployment", "q-workers", "-n", k8s_ns, "--replicas=5")
    await apply(body)  # every status tick applies again
    assert deployment_replicas(control_plane, k8s_ns) == 5
    body["spec"]["scaling"]["enabled"] = True  # back on: the operator's replicas again
    await apply(body)
    assert deployment_replicas(control_plane, k8s_ns) == 3
