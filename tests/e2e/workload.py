"""TaskQueues and Tasks for the e2e tests, and reading their state back with kubectl."""

from __future__ import annotations

from typing import Any

from tests.e2e.kube import Kube, wait_for

FINISHED = {"Succeeded", "Dead", "Cancelled"}


def task_queue(name: str, *, min_replicas: int, max_replicas: int, max_concurrent: int,
               stabilization: int = 5, shutdown: float = 5) -> dict[str, Any]:
    return {"apiVersion": "kubetask.io/v1alpha1", "kind": "TaskQueue", "metadata": {"name": name},
            "spec": {"retry": {"maxRetries": 3, "backoffBaseSeconds": 0.5, "backoffCapSeconds": 2},
                     "worker": {"maxConcurrent": max_concurrent, "shutdownTimeoutSeconds": shutdown,
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}},
                     "scaling": {"minReplicas": min_replicas, "maxReplicas": max_replicas,
                                 "scaleDownStabilizationSeconds": stabilization}}}


def names(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objects}


def echo_tasks(queue: str, count: int, seconds: float) -> list[dict[str, Any]]:
    return [{"apiVersion": "kubetask.io/v1alpha1", "kind": "Task",
             "metadata": {"name": f"{queue}-{i}"},
             "spec": {"queue": queue, "type": "echo", "payload": {"duration": seconds, "n": i}}}
            for i in range(count)]


def tasks(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    """Every Task's status by name."""
    return {t["metadata"]["name"]: t.get("status") or {} for t in kube.items("tasks", namespace)}


def phases(kube: Kube, namespace: str) -> dict[str, str]:
    return {name: status.get("phase", "") for name, status in tasks(kube, namespace).items()}


def wait_finished(kube: Kube, namespace: str, names: set[str], timeout: float) -> dict[str, str]:
    """The phases of the Tasks `names` once every one of them has finished."""
    def done() -> dict[str, str] | None:
        now = {n: p for n, p in phases(kube, namespace).items() if n in names}
        return now if set(now) == names and set(now.values()) <= FINISHED else None
    return wait_for(f"{len(names)} Tasks finished", done, timeout=timeout)


def worker_pods(kube: Kube, namespace: str, queue: str) -> list[dict[str, Any]]:
    return kube.items("pods", namespace, f"kubetask.io/queue={queue}")


def running_ready(pod: dict[str, Any]) -> bool:
    statuses = pod["status"].get("containerStatuses") or []
    return (pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]
            and bool(statuses) and all(s["ready"] for s in statuses))


def wait_workers(kube: Kube, namespace: str, queue: str, count: int,
                 timeout: float) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        pods = [p for p in worker_pods(kube, namespace, queue) if running_ready(p)]
        return pods if len(pods) >= count else None
    return wait_for(f"{count} worker pods of {queue} Running and Ready", ready, timeout=timeout)
