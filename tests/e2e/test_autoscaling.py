"""The operator's autoscaler on real pods: a backlog scales the worker Deployment up, the new
pods take tasks, and scale-in removes only pods that run no task."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.deploy import Deployment
from tests.e2e.kube import Kube
from tests.e2e.workload import (
    FINISHED,
    echo_tasks,
    names,
    running_ready,
    task_queue,
    tasks,
    wait_workers,
    worker_pods,
)

QUEUE = "burst"
OBSERVE_TIMEOUT = 180


def busy_pods(task_status: dict[str, dict[str, Any]]) -> set[str]:
    return {s.get("worker", "") for s in task_status.values() if s.get("phase") == "Running"}


def test_backlog_scales_up_and_scale_in_removes_idle_pods(kube: Kube, kubetask: Deployment) -> None:
    namespace = kubetask.namespace
    kube.apply(task_queue(QUEUE, min_replicas=1, max_replicas=3, max_concurrent=2, stabilization=5),
               namespace=namespace)
    wait_workers(kube, namespace, QUEUE, 1, timeout=120)
    work = echo_tasks(QUEUE, 12, seconds=6)
    kube.apply(*work, namespace=namespace)

    most_ready = 0
    removed_while_busy: list[str] = []
    seen_workers: set[str] = set()
    deadline = time.monotonic() + OBSERVE_TIMEOUT
    while True:
        # Tasks first: a pod marked for deletion after this read cannot have started one since.
        status = {n: s for n, s in tasks(kube, namespace).items() if n in names(work)}
        busy = busy_pods(status)
        pods = worker_pods(kube, namespace, QUEUE)
        most_ready = max(most_ready, sum(1 for p in pods if running_ready(p)))
        removed_while_busy += [p["metadata"]["name"] for p in pods
                               if "deletionTimestamp" in p["metadata"] and p["metadata"]["name"] in busy]
        seen_workers |= {s.get("worker", "") for s in status.values()} - {""}
        replicas = kube.get("deployment", namespace, f"{QUEUE}-workers")["spec"]["replicas"]
        finished = len(status) == len(work) and {s.get("phase") for s in status.values()} <= FINISHED
        if finished and replicas == 1 and len(pods) == 1:
            break
        assert time.monotonic() < deadline, f"not scaled back in {OBSERVE_TIMEOUT} s: {replicas=}"
        time.sleep(1)

    assert most_ready >= 2, "the backlog never had more than one worker pod Ready"
    assert len(seen_workers) >= 2, f"the new pods took no task: {seen_workers}"
    assert {s["phase"] for s in status.values()} == {"Succeeded"}, status
    assert all(s.get("attempts", 1) == 1 for s in status.values()), status
    assert removed_while_busy == [], "scale-in removed a pod that ran a task"
