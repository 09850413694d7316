"""The CRDs on a real kube-apiserver: the examples apply, invalid manifests are refused with
a message naming the field, a Task's spec cannot change, and `kubectl get` prints the
columns, status (written through the status subresource) included."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.k8s.cluster import ControlPlane
from tests.manifests import EXAMPLES, GROUP, VERSION

pytestmark = pytest.mark.k8s

TASK_COLUMNS = ["NAME", "QUEUE", "TYPE", "PRIORITY", "PHASE", "ATTEMPTS", "WORKER", "AGE"]
QUEUE_COLUMNS = ["NAME", "STRATEGY", "PENDING", "RUNNING", "SUCCEEDED", "DEAD", "FAILED",
                 "ATTEMPTS", "WORKERS", "REPLICAS", "AGE"]  # split on blanks: FAILED ATTEMPTS


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> ControlPlane:
    """The session's control plane with the CRDs installed and established."""
    control_plane.install_crds()
    return control_plane


@pytest.fixture
def ns(kube: ControlPlane) -> Iterator[str]:
    name = f"crds-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def task(name: str = "t1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Task", "metadata": {"name": name},
            "spec": {"type": "echo", **spec}}


def task_queue(name: str = "q1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TaskQueue",
            "metadata": {"name": name}, "spec": spec}


def apply(kube: ControlPlane, ns: str, doc: dict[str, Any], *extra: str,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    return kube.kubectl("apply", "-n", ns, "-f", "-", *extra, input=json.dumps(doc),
                           check=check)


def table(kube: ControlPlane, ns: str, *what: str) -> list[list[str]]:
    out = kube.kubectl("get", *what, "-n", ns).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def test_every_example_applies(kube: ControlPlane, ns: str) -> None:
    out = kube.kubectl("apply", "--dry-run=server", "-n", ns, "-f", str(EXAMPLES),
                          "-f", str(EXAMPLES / "custom-executor")).stdout
    created = sorted(line.split()[0] for line in out.splitlines())
    assert created == sorted([
        "task.kubetask.io/compute-high", "task.kubetask.io/echo-hello",
        "task.kubetask.io/echo-low", "task.kubetask.io/no-such-type",
        "task.kubetask.io/unreliable-urgent", "task.kubetask.io/wordcount-example",
        "taskqueue.kubetask.io/default", "taskqueue.kubetask.io/wordcount"]), out


INVALID = {
    "priority 9": (task(priority=9), ["spec.priority", "priority must be 0-3"]),
    "priority unknown name": (task(priority="highest"), ["spec.priority", "low, normal"]),
    "no type": ({**task(), "spec": {"queue": "default"}}, ["spec.type", "Required value"]),
    "type with a slash": (task(type="bad/name"), ["spec.type", "should match"]),
    "type with ..": (task(type="a..b"), ["spec.type", "must not contain '..'"]),
    "queue starting with -": (task(queue="-q"), ["spec.queue", "should match"]),
    "name over 128": (task(name="a" * 60 + "." + "b" * 60 + ".ccccccccc"),
                      ["metadata.name", "at most 128"]),
    "maxRetries 101": (task(maxRetries=101), ["spec.maxRetries", "less than or equal to 100"]),
    "timeout 0": (task(timeoutSeconds=0), ["spec.timeoutSeconds"]),
    "negative ttl": (task(ttlSecondsAfterFinished=-1), ["spec.ttlSecondsAfterFinished"]),
    "minReplicas > maxReplicas": (task_queue(scaling={"minReplicas": 5, "maxReplicas": 2}),
                                  ["spec.scaling.minReplicas", "not be greater than maxReplicas"]),
    "minReplicas > default maxReplicas": (task_queue(scaling={"minReplicas": 11}),
                                          ["spec.scaling.minReplicas"]),
    "backoff cap < base": (
        task_queue(retry={"backoffBaseSeconds": 10, "backoffCapSeconds": 2.5}),
        ["spec.retry.backoffCapSeconds", "not be shorter than backoffBaseSeconds"]),
    "unknown strategy": (task_queue(strategy="fastest"), ["spec.strategy", "Unsupported value"]),
    "maxConcurrent 0": (task_queue(worker={"maxConcurrent": 0}), ["spec.worker.maxConcurrent"]),
    "prefetch 1001": (task_queue(worker={"prefetch": 1001}),
                      ["spec.worker.prefetch", "less than or equal to 1000"]),
    "prefetch -1": (task_queue(worker={"prefetch": -1}),
                    ["spec.worker.prefetch", "greater than or equal to 0"]),
    "prefetch hold 0": (task_queue(worker={"prefetchHoldSeconds": 0}),
                        ["spec.worker.prefetchHoldSeconds", "greater than 0"]),
    "prefetch hold 61": (task_queue(worker={"prefetchHoldSeconds": 61}),
                         ["spec.worker.prefetchHoldSeconds", "less than or equal to 60"]),
    "import not a module": (task_queue(worker={"imports": ["my-tasks"]}),
                            ["spec.worker.imports[0]"]),
    "bad quantity": (task_queue(worker={"resources": {"limits": {"cpu": "lots"}}}),
                     ["spec.worker.resources.limits.cpu"]),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_manifest_is_refused_naming_the_field(kube: ControlPlane, ns: str, case: str) -> None:
    doc, expected = INVALID[case]
    result = apply(kube, ns, doc, "--dry-run=server", check=False)
    assert result.returncode != 0, result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


def test_task_spec_is_immutable_but_metadata_and_status_are_not(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, task("once", payload={"n": 1}))
    apply(kube, ns, task("once", payload={"n": 1}))  # the same manifest again: accepted
    for patch in ({"priority": "urgent"}, {"payload": {"n": 2}}, {"maxRetries": 1}):
        result = kube.kubectl("patch", "task", "once", "-n", ns, "--type=merge",
                                 "-p", json.dumps({"spec": patch}), check=False)
        assert result.returncode != 0, patch
        assert "spec: Invalid value" in result.stderr, result.stderr
        assert "a Task's spec is immutable" in result.stderr, result.stderr
    kube.kubectl("label", "task", "once", "-n", ns, "team=a")
    kube.kubectl("patch", "task", "once", "-n", ns, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"phase": "Running"}}))
    got = json.loads(kube.kubectl("get", "task", "once", "-n", ns, "-o", "json").stdout)
    assert got["spec"] == {"type": "echo", "payload": {"n": 1}, "queue": "default",
                           "priority": "normal"}
    assert got["metadata"]["labels"] == {"team": "a"}
    assert got["status"] == {"phase": "Running"}


def test_status_only_changes_through_the_status_subresource(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, task("st"))
    kube.kubectl("patch", "task", "st", "-n", ns, "--type=merge",
                    "-p", json.dumps({"status": {"phase": "Dead"}}))
    got = json.loads(kube.kubectl("get", "task", "st", "-n", ns, "-o", "json").stdout)
    assert "status" not in got
    result = kube.kubectl("patch", "task", "st", "-n", ns, "--subresource=status",
                             "--type=merge", "-p", json.dumps({"status": {"phase": "Done"}}),
                             check=False)
    assert result.returncode != 0
    assert "status.phase" in result.stderr, result.stderr


def test_get_tasks_prints_the_columns_and_the_status(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, task("shown", queue="q1", type="compute", priority=3))
    status = {"phase": "Running", "attempts": 2, "worker": "worker-abc", "taskID": "01J"}
    kube.kubectl("patch", "task", "shown", "-n", ns, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))
    for name in ("tasks", "kt", f"tasks.{GROUP}"):
        header, row = table(kube, ns, name)
        assert header == TASK_COLUMNS
        assert row[:7] == ["shown", "q1", "compute", "3", "Running", "2", "worker-abc"]


def test_get_taskqueues_prints_the_columns_and_the_status(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, task_queue("q1"))
    status = {"pending": 5, "running": 4, "succeeded": 3, "failedAttempts": 2, "dead": 1,
              "workers": 2, "replicas": 2, "readyReplicas": 1, "desiredReplicas": 2}
    kube.kubectl("patch", "taskqueue", "q1", "-n", ns, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))
    for name in ("taskqueues", "ktq"):
        header, row = table(kube, ns, name)
        assert header == QUEUE_COLUMNS
        assert row[:9] == ["q1", "round_robin", "5", "4", "3", "1", "2", "2", "2"]
    spec = json.loads(kube.kubectl("get", "ktq", "q1", "-n", ns, "-o", "json").stdout)["spec"]
    assert spec["worker"] == {"maxConcurrent": 10, "weight": 1, "shutdownTimeoutSeconds": 30}
    assert spec["scaling"] == {"enabled": True, "minReplicas": 1, "maxReplicas": 10,
                               "targetUtilization": 1.0, "scaleDownStabilizationSeconds": 60,
                               "scaleUpStep": 4, "scaleDownStep": 4}


def test_get_kubetask_category_lists_both_kinds(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, task_queue("q1"))
    apply(kube, ns, task("member", queue="q1"))
    out = kube.kubectl("get", "kubetask", "-n", ns).stdout
    assert "taskqueue.kubetask.io/q1" in out, out
    assert "task.kubetask.io/member" in out, out
    headers = [line.split() for line in out.splitlines() if line.startswith("NAME")]
    assert headers == [QUEUE_COLUMNS, TASK_COLUMNS] or headers == [TASK_COLUMNS, QUEUE_COLUMNS]
