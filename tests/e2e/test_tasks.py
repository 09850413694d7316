"""Tasks run by worker pods of the project's image: the examples, and a worker pod deleted
while it runs tasks."""

from __future__ import annotations

import logging

from tests.e2e.deploy import Deployment
from tests.e2e.kube import ROOT, Kube, wait_for
from tests.e2e.workload import (
    echo_tasks,
    names,
    phases,
    task_queue,
    tasks,
    wait_finished,
    wait_workers,
    worker_pods,
)

log = logging.getLogger(__name__)


def test_examples_every_task_succeeds(kube: Kube, kubetask: Deployment) -> None:
    namespace = kubetask.namespace
    kube.kubectl("apply", "-n", namespace, "-f", str(ROOT / "examples"))
    pods = wait_workers(kube, namespace, "default", 2, timeout=120)
    assert all(p["spec"]["containers"][0]["image"].startswith("kubetask/worker") for p in pods)
    examples = {"echo-hello", "echo-low", "compute-high", "unreliable-urgent", "no-such-type"}
    assert examples <= set(phases(kube, namespace))
    final = wait_finished(kube, namespace, examples, timeout=120)
    # examples/task-unknown-type.yaml is meant to end Dead (no executor for its type).
    assert final.pop("no-such-type") == "Dead"
    assert set(final.values()) == {"Succeeded"}, final
    # What a user sees: the Phase column of `kubectl get tasks`.
    rows = [line.split() for line in kube.kubectl("get", "tasks", "-n", namespace).splitlines()]
    shown = {row[0]: row[4] for row in rows[1:] if row[0] in examples}
    assert shown == {**final, "no-such-type": "Dead"}, rows


def test_worker_pod_deleted_mid_task_loses_nothing(kube: Kube, kubetask: Deployment) -> None:
    namespace, queue = kubetask.namespace, "resilient"
    kube.apply(task_queue(queue, min_replicas=2, max_replicas=2, max_concurrent=2, shutdown=1),
               namespace=namespace)
    wait_workers(kube, namespace, queue, 2, timeout=120)
    work = echo_tasks(queue, 6, seconds=8)
    kube.apply(*work, namespace=namespace)

    def busy_worker() -> str | None:
        running = [s.get("worker") for n, s in tasks(kube, namespace).items()
                   if n.startswith(queue) and s.get("phase") == "Running"]
        pods = {p["metadata"]["name"] for p in worker_pods(kube, namespace, queue)}
        return next((w for w in running if w in pods), None)

    victim = wait_for("a worker pod running a task", busy_worker, timeout=60, interval=0.5)
    log.info("deleting worker pod %s while it runs a task", victim)
    kube.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")
    final = wait_finished(kube, namespace, names(work), timeout=180)
    assert set(final.values()) == {"Succeeded"}, final
