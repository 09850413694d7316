"""The autoscaler on the real controllers: a TaskQueue's worker Deployment scaled on its
backlog (pods run by the process kubelet as `kubetask worker`), scale-in that removes only
idle workers, scale to zero and back. After test_operator.py (its early tests need no
controllers): these start them."""
# ruff: noqa: F811 - a test's parameter named after an imported fixture is that fixture

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.etcd_process import EtcdProcess
from kubetask.model import Task, TaskState
from tests.k8s.cluster import ControlPlane
from tests.k8s.process_kubelet import ProcessKubelet
from tests.k8s.test_operator import (  # noqa: F401 - kube, ns, procs: its fixtures
    GROUP,
    Processes,
    as_list,
    deployment,
    echo_tasks,
    kube,
    ns,
    phases,
    procs,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)


def task_queue(name: str, *, max_concurrent: int, shutdown: float = 10,
               **scaling: Any) -> str:
    return as_list([{"apiVersion": f"{GROUP}/v1alpha1", "kind": "TaskQueue",
                     "metadata": {"name": name},
                     "spec": {"worker": {"maxConcurrent": max_concurrent,
                                         "shutdownTimeoutSeconds": shutdown},
                              "scaling": scaling}}])


def replicas(kube: ControlPlane, ns: str, queue: str) -> int | None:
    found = deployment(kube, ns, f"{queue}-workers")
    return None if found is None else int(found["spec"].get("replicas", -1))


def live_pods(kube: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    items = json.loads(kube.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items
            if not p["metadata"].get("deletionTimestamp")}


def queue_status(kube: ControlPlane, ns: str, queue: str) -> dict[str, Any]:
    found = json.loads(kube.kubectl("get", "taskqueue", queue, "-n", ns, "-o", "json").stdout)
    return dict(found.get("status") or {})


def engine(etcd: EtcdProcess, ns: str, call: Any) -> Any:
    async def run() -> Any:
        async with AsyncClient(etcd.endpoint, namespace=ns) as client:
            return await call(client)
    return asyncio.run(run())


def workers(etcd: EtcdProcess, ns: str, queue: str) -> set[str]:
    return {w.id for w in engine(etcd, ns, lambda c: c.workers(queue))}


def tasks_of(etcd: EtcdProcess, ns: str, ids: list[str]) -> list[Task]:
    return list(engine(etcd, ns, lambda c: c.get_many(ids)))


def scale_events(kube: ControlPlane, ns: str) -> list[str]:
    items = json.loads(kube.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    return [e["reason"] for e in sorted(items, key=lambda e: e["metadata"]["creationTimestamp"])
            if e["reason"] in ("ScaledUp", "ScaledDown")]


def test_a_backlog_scales_the_workers_up_then_back_down_after_the_window(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "burst", max_concurrent=8, minReplicas=1, maxReplicas=4,
        scaleDownStabilizationSeconds=10))
    wait_for("the first worker", lambda: workers(etcd, ns, "burst"), procs, timeout=60)
    submitted = engine(etcd, ns, lambda c: c.submit_many(
        [TaskSpec("echo", {"duration": 1}, queue="burst") for _ in range(300)]))
    ids = [t.id for t in submitted]
    began = time.monotonic()
    seen: list[dict[str, float]] = []  # the timeline: replicas, workers, backlog

    def sample() -> dict[str, float]:
        (stats,) = engine(etcd, ns, lambda c: c.stats("burst"))
        point = {"t": round(time.monotonic() - began, 2),
                 "replicas": float(replicas(kube, ns, "burst") or 0),
                 "workers": float(len(stats.workers)), "pending": float(stats.counts.pending),
                 "running": float(stats.counts.running),
                 "succeeded": float(stats.counts.succeeded)}
        seen.append(point)
        return point

    wait_for("the backlog run by 4 workers", lambda: sample()["succeeded"] == 300 and
             any(p["workers"] == 4 for p in seen), procs, timeout=150)
    assert max(p["replicas"] for p in seen) == 4
    wait_for("back to 1 replica", lambda: sample()["replicas"] == 1 and
             len(live_pods(kube, ns)) == 1, procs, timeout=60)
    if timeline := os.environ.get("KUBETASK_SCALING_TIMELINE"):  # bench/scaling_chart.py
        Path(timeline).write_text(json.dumps(seen))

    finished = tasks_of(etcd, ns, ids)
    assert {(t.state, t.attempts) for t in finished} == {(TaskState.SUCCEEDED, 1)}
    assert len({t.worker for t in finished}) == 4  # the 4 pods ran them
    status = queue_status(kube, ns, "burst")
    assert status["desiredReplicas"] == 1 and status["lastScaleReason"] == "ScaledDown"
    assert status["lastScaleTime"]
    scaling = next(c for c in status["conditions"] if c["type"] == "Scaling")
    assert scaling["status"] == "True" and scaling["reason"] in ("Steady", "ScaledDown")
    events = scale_events(kube, ns)
    assert events[0] == "ScaledUp" and events[-1] == "ScaledDown", events


def test_scale_in_removes_the_idle_workers_and_no_running_task_is_interrupted(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    """4 workers of one slot, long tasks on 2 of the newer pods. Lowering the demand to 2
    removes the 2 idle pods (the oldest one among them, which the ReplicaSet controller
    would keep by age), never a busy one: a busy pod removed would interrupt its task after
    the 2 s shutdown timeout and the task would run again."""
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "long", max_concurrent=1, shutdown=2, minReplicas=1, maxReplicas=4,
        scaleDownStabilizationSeconds=8))
    (oldest,) = wait_for("the first worker", lambda: workers(etcd, ns, "long"), procs,
                         timeout=60)
    kube.kubectl("patch", "taskqueue", "long", "-n", ns, "--type=merge", "-p",
                 json.dumps({"spec": {"scaling": {"minReplicas": 4}}}))
    wait_for("4 workers", lambda: len(workers(etcd, ns, "long")) == 4, procs, timeout=60)
    # the oldest pod takes no task: by age alone the ReplicaSet controller would keep it
    engine(etcd, ns, lambda c: c.drain_worker("long", oldest))
    long = engine(etcd, ns, lambda c: c.submit_many(
        [TaskSpec("echo", {"duration": 30}, queue="long") for _ in range(2)]))
    ids = [t.id for t in long]
    wait_for("both long tasks running", lambda: all(
        t.state is TaskState.RUNNING for t in tasks_of(etcd, ns, ids)), procs, timeout=30)
    busy = {t.worker for t in tasks_of(etcd, ns, ids)}
    assert len(busy) == 2 and oldest not in busy
    kube.kubectl("patch", "taskqueue", "long", "-n", ns, "--type=merge", "-p",
                 json.dumps({"spec": {"scaling": {"minReplicas": 1}}}))

    wait_for("2 replicas and 2 pods", lambda: replicas(kube, ns, "long") == 2 and
             len(live_pods(kube, ns)) == 2, procs, timeout=60)
    assert set(live_pods(kube, ns)) == busy
    running = tasks_of(etcd, ns, ids)
    assert [(t.state, t.attempts) for t in running] == [(TaskState.RUNNING, 1)] * 2, running
    assert workers(etcd, ns, "long") == busy
    wait_for("the idle pods' workers exited", lambda: len(
        {e.pod for e in process_kubelet.exits if e.namespace == ns}) == 2, procs, timeout=30)
    removed = {e.pod: e for e in process_kubelet.exits if e.namespace == ns}
    assert oldest in removed and not busy & set(removed)
    assert not any(e.killed for e in removed.values())
    done = wait_for("the long tasks end", lambda: (lambda ts: ts if all(
        t.state is TaskState.SUCCEEDED for t in ts) else None)(tasks_of(etcd, ns, ids)),
        procs, timeout=60)
    assert [(t.attempts, t.worker in busy) for t in done] == [(1, True)] * 2
    assert len({t.worker for t in done}) == 2  # each on the pod it started on


def test_min_zero_scales_to_zero_and_a_task_wakes_a_worker(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "default", max_concurrent=4, minReplicas=0, maxReplicas=2,
        scaleDownStabilizationSeconds=3))
    wait_for("the Deployment at 0", lambda: replicas(kube, ns, "default") == 0, procs,
             timeout=60)
    assert live_pods(kube, ns) == {}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(["wake"], 0.2))
    wait_for("the Task succeeded", lambda: phases(kube, ns).get("wake") == "Succeeded", procs,
             timeout=90)
    wait_for("back to 0 pods", lambda: replicas(kube, ns, "default") == 0 and
             not live_pods(kube, ns), procs, timeout=60)
    assert scale_events(kube, ns) == ["ScaledUp", "ScaledDown"]


def test_a_steady_load_at_half_of_one_replica_does_not_flap(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    """Bursts of 8 tasks of 1 s every 4 s on 4 slots: 2 running on average, half of one
    replica. A tick right after a burst wants 2 replicas, one between bursts wants 1: with
    the default 60 s window the replicas change at most once in a minute (up, then kept),
    where an autoscaler without the window goes up and down every few ticks (with
    scaleDownStabilizationSeconds 0 this test saw [1, 2, 1, 2, 1])."""
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "steady", max_concurrent=4, minReplicas=1, maxReplicas=4))
    wait_for("the first worker", lambda: workers(etcd, ns, "steady"), procs, timeout=60)
    history = [replicas(kube, ns, "steady")]
    ids: list[str] = []
    for _ in range(15):  # 60 s
        burst = engine(etcd, ns, lambda c: c.submit_many(
            [TaskSpec("echo", {"duration": 1}, queue="steady") for _ in range(8)]))
        ids += [t.id for t in burst]
        for _ in range(8):
            time.sleep(0.5)
            procs.check_alive()
            if (now := replicas(kube, ns, "steady")) != history[-1]:
                history.append(now)
    assert len(history) <= 2, history  # at most one change
    done = engine(etcd, ns, lambda c: c.wait(ids, timeout=60))
    assert {t.state for t in done} == {TaskState.SUCCEEDED}


def test_two_operators_scale_a_queue_as_one(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    """Both operators run every TaskQueue's timer, but only the one whose scheduler leads
    the queue decides its replicas, drains and writes its status: one ScaledUp per scale-up,
    not one per operator (each with its own window, two would fight over the replicas)."""
    procs.operator()
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "pair", max_concurrent=1, minReplicas=1, maxReplicas=3,
        scaleDownStabilizationSeconds=60))
    wait_for("the first worker", lambda: workers(etcd, ns, "pair"), procs, timeout=60)
    submitted = engine(etcd, ns, lambda c: c.submit_many(
        [TaskSpec("echo", {"duration": 6}, queue="pair") for _ in range(6)]))
    wait_for("3 replicas", lambda: replicas(kube, ns, "pair") == 3, procs, timeout=60)
    ids = [t.id for t in submitted]
    wait_for("the 6 tasks done", lambda: all(
        t.state is TaskState.SUCCEEDED for t in tasks_of(etcd, ns, ids)), procs, timeout=90)
    time.sleep(6)  # another status tick of both operators (5 s): a second decision would show
    assert scale_events(kube, ns) == ["ScaledUp"]
    assert replicas(kube, ns, "pair") == 3  # held for the 60 s window, by one operator
