"""The operator measured on a real control plane: API calls per Task on the happy path,
counted by the kube-apiserver itself (`apiserver_request_total`), and 1,000 Tasks applied at
once all reaching Succeeded with the TaskQueue's counts agreeing."""

# ruff: noqa: F811 - a test's parameter named after an imported fixture is that fixture

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kubetask.etcd_process import EtcdProcess
from tests.k8s.apiserver_metrics import CallKey, per_object_calls, request_totals, table
from tests.k8s.cluster import ControlPlane
from tests.k8s.test_operator import (  # noqa: F401 - procs: its fixture, with this module's ns
    EXAMPLES,
    Processes,
    procs,
    task_docs,
    tasks,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)

N_COUNTED = 50
N_LOAD = 1000
PHASES_ON_THE_HAPPY_PATH = 4  # Pending, Assigned, Running, Succeeded
# create + kopf's finalizer + kopf's handled-spec record + one status patch per phase
BOUND_PER_TASK = 3 + PHASES_ON_THE_HAPPY_PATH
STATS_INTERVAL = 5.0  # the operator's TaskQueue status refresh (OperatorSettings)


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> ControlPlane:
    control_plane.install_crds()
    return control_plane


@pytest.fixture
def ns(kube: ControlPlane) -> str:
    name = f"load-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    return name


def ready_queue(kube: ControlPlane, ns: str, procs: Processes) -> dict[str, Any]:
    """The example TaskQueue applied, and its status written once (scheduler leading)."""
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))

    def ready() -> dict[str, Any] | None:
        queue = json.loads(kube.kubectl("get", "taskqueue", "default", "-n", ns, "-o",
                                        "json").stdout)
        conditions = {c["type"]: c["status"]
                      for c in queue.get("status", {}).get("conditions", [])}
        return queue if conditions.get("Ready") == "True" else None

    return wait_for("the TaskQueue Ready", ready, procs, timeout=60)  # type: ignore[no-any-return]


def noop_tasks(names: list[str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List",
                       "items": [{**doc, "spec": {"type": "noop"}}
                                 for doc in task_docs(names, None)]})


def succeeded(kube: ControlPlane, ns: str, count: int) -> dict[str, dict[str, Any]] | None:
    found = tasks(kube, ns)
    done = [t for t in found.values() if t.get("status", {}).get("phase") == "Succeeded"]
    return found if len(found) == count and len(done) == count else None


def settled(kube: ControlPlane, procs: Processes, quiet: float = 1.5) -> Counter[CallKey]:
    """The API server's counters once no call on Tasks happened for `quiet` seconds (the
    last status patches and whatever kopf does after them are in)."""
    def calm() -> Counter[CallKey] | None:
        first = request_totals(kube.api)
        time.sleep(quiet)
        second = request_totals(kube.api)
        return second if per_object_calls(second - first, "tasks") == {} else None

    return wait_for("the calls on Tasks to stop", calm, procs, timeout=60)  # type: ignore[no-any-return]


def test_api_calls_per_task_on_the_happy_path_are_bounded(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    """N quick Tasks on a ready TaskQueue, counted by the API server. Per Task the design
    allows: the user's create (1 POST); kopf's finalizer (1 PATCH of the resource, so that
    a deletion always reaches the operator); kopf's record of the handled spec after the
    create handler (1 PATCH of status: without it every status change would look like a
    new creation); the operator's status patches, one per linger window with a change, so
    at most one per phase of the happy path (Pending, Assigned, Running, Succeeded): 4.
    No GET, PUT or DELETE of a Task, no Event. Lists and watches are per operator (and
    this test's polling), not per Task: shown apart, not bounded here."""
    procs.operator()
    procs.worker("w1")
    ready_queue(kube, ns, procs)
    before = settled(kube, procs)
    names = [f"counted-{i}" for i in range(N_COUNTED)]
    kube.kubectl("create", "-n", ns, "-f", "-", input=noop_tasks(names))  # one POST each
    wait_for("every Task Succeeded", lambda: succeeded(kube, ns, N_COUNTED), procs)
    after = settled(kube, procs)

    delta = after - before
    breakdown = table(delta, N_COUNTED)
    print(f"\nAPI calls for {N_COUNTED} quick Tasks (apiserver_request_total):\n{breakdown}")
    calls = per_object_calls(delta, "tasks")
    create = CallKey("POST", "tasks.kubetask.io", "")
    finalizer = CallKey("PATCH", "tasks.kubetask.io", "")
    status = CallKey("PATCH", "tasks.kubetask.io", "status")
    assert set(calls) == {create, finalizer, status}, breakdown
    assert calls[create] == N_COUNTED, breakdown
    assert calls[finalizer] == N_COUNTED, breakdown  # kopf's finalizer, nothing else
    assert 2 * N_COUNTED <= calls[status] <= (1 + PHASES_ON_THE_HAPPY_PATH) * N_COUNTED, \
        breakdown
    assert sum(calls.values()) <= BOUND_PER_TASK * N_COUNTED, breakdown
    events = json.loads(kube.kubectl("get", "events", "-n", ns, "-o", "json",
                                     "--field-selector", "involvedObject.kind=Task").stdout)
    assert events["items"] == []  # no Event per Task on the happy path


def multi_document(names: list[str]) -> str:
    """A YAML file of one Task document per name (JSON documents: YAML accepts them)."""
    return "".join(f"---\n{json.dumps(doc)}\n"
                   for doc in json.loads(noop_tasks(names))["items"])


def task_items(kube: ControlPlane, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.api.get(
        f"/apis/kubetask.io/v1alpha1/namespaces/{ns}/tasks")["items"]
    return items


@pytest.mark.load
def test_a_thousand_tasks_applied_at_once_all_succeed(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        tmp_path: Path) -> None:
    procs.operator()
    procs.worker("w1")
    procs.worker("w2")
    ready_queue(kube, ns, procs)
    manifest = tmp_path / "tasks.yaml"
    manifest.write_text(multi_document([f"load-{i:04d}" for i in range(N_LOAD)]))
    before = request_totals(kube.api)
    began = time.monotonic()
    kube.kubectl("apply", "-n", ns, "-f", str(manifest), timeout=180)
    applied = time.monotonic() - began

    def all_succeeded() -> list[dict[str, Any]] | None:
        items = task_items(kube, ns)
        ok = [t for t in items if t.get("status", {}).get("phase") == "Succeeded"]
        return items if len(items) == N_LOAD and len(ok) == N_LOAD else None

    items = wait_for("1,000 Tasks Succeeded", all_succeeded, procs, timeout=180)
    took = time.monotonic() - began
    phases = Counter(t["status"]["phase"] for t in items)

    def counts_caught_up() -> dict[str, Any] | None:
        status = kube.api.get(f"/apis/kubetask.io/v1alpha1/namespaces/{ns}/taskqueues/default"
                              ).get("status", {})
        return status if status.get("succeeded") == N_LOAD else None

    queue = wait_for("the TaskQueue's counts", counts_caught_up, procs, timeout=60)
    delta = request_totals(kube.api) - before
    print(f"\n{N_LOAD} Tasks: kubectl apply {applied:.1f} s, all Succeeded {took:.1f} s after "
          f"the apply began; calls:\n{table(delta, N_LOAD)}")
    side_by_side = {phase: (queue.get(phase.lower(), 0), phases.get(phase, 0))
                    for phase in ("Pending", "Running", "Retrying", "Succeeded", "Dead",
                                  "Cancelled")}
    assert all(shown == counted for shown, counted in side_by_side.values()), side_by_side
    assert len({t["status"]["taskID"] for t in items}) == N_LOAD  # one etcd task each


def queue_status(kube: ControlPlane, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.api.get(
        f"/apis/kubetask.io/v1alpha1/namespaces/{ns}/taskqueues/default").get("status", {})
    status.pop("kopf", None)
    return status


def test_an_idle_taskqueue_costs_no_status_patches(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    """The TaskQueue's status is refreshed every 5 s; with nothing changed (no tasks, the
    same workers) that refresh writes nothing: a merge patch of equal values is still an
    API call per TaskQueue every 5 s, forever."""
    procs.operator()
    procs.worker("w1")
    ready_queue(kube, ns, procs)

    def stable() -> dict[str, Any] | None:  # workers registered, replicas as they stay,
        first = queue_status(kube, ns)        # over two refreshes (a busy machine starts
        for _ in range(2):                    # pods slowly)
            time.sleep(STATS_INTERVAL + 0.5)
            if queue_status(kube, ns) != first:
                return None
        return first

    settled = wait_for("the TaskQueue's status to stay the same", stable, procs, timeout=120)
    before = request_totals(kube.api)
    time.sleep(2 * STATS_INTERVAL + 1)  # two refreshes of the status at least (a count,
    # not a timed assertion: before, each refresh was one PATCH; now none)
    delta = request_totals(kube.api) - before
    after = queue_status(kube, ns)

    window = 2 * STATS_INTERVAL + 1
    breakdown = table(delta, round(window), "s")
    print(f"\nAPI calls with one idle TaskQueue over {window:.0f} s:\n{breakdown}")
    changed = {k: (settled.get(k), after.get(k)) for k in settled.keys() | after.keys()
               if settled.get(k) != after.get(k)}
    assert delta[CallKey("PATCH", "taskqueues.kubetask.io", "status")] == 0, (
        f"{breakdown}\nstatus fields that changed (an idle queue's should not): {changed}")
