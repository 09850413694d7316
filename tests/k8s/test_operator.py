"""`kubetask operator` as a user runs it: a subprocess against the control plane's
kubeconfig and a real kubetask etcd, workers as `kubetask worker` processes on that etcd.
The examples are applied with kubectl and followed with `kubectl get tasks`."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubetask.client import AsyncClient
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.store import Keyspace, Store
from tests.harness import Proc
from tests.k8s.cluster import ROOT, Cluster, ControlPlane
from tests.k8s.process_kubelet import ProcessKubelet

GROUP = "kubetask.io"
EXAMPLES = ROOT / "examples"
FINISHED = {"Succeeded", "Dead", "Cancelled"}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane, cluster: Cluster) -> ControlPlane:
    """The control plane with the CRDs, and the controllers (each test's namespace is
    deleted at its end by the namespace controller)."""
    control_plane.install_crds()
    return control_plane


@pytest.fixture
def ns(kube: ControlPlane, cluster: Cluster) -> Iterator[str]:
    name = f"op-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    # After the test's operators stopped (procs ends first): its Tasks' finalizers released
    cluster.delete_namespace(name)


class Processes:
    """The test's operator and worker processes, stopped at the end."""

    def __init__(self, kube: ControlPlane, etcd: EtcdProcess, ns: str, logs: Path) -> None:
        self.env = {**kube.env, "PYTHONPATH": str(ROOT)}
        self.etcd, self.ns, self.logs = etcd, ns, logs
        self.started: list[Proc] = []
        self.killed: Proc | None = None

    def operator(self, *extra: str) -> Proc:
        return self._start("operator", "--etcd-endpoints", self.etcd.endpoint,
                           "--namespace", self.ns, "--log-level", "debug", *extra)

    def worker(self, name: str) -> Proc:
        return self._start("worker", "--etcd-endpoints", self.etcd.endpoint,
                           "--namespace", self.ns, "--queue", "default", "--node-id", name,
                           "--max-concurrent", "4", "--shutdown-timeout", "5")

    def _start(self, *args: str) -> Proc:
        proc = Proc(list(args), self.env, self.logs / f"{args[0]}-{len(self.started)}.log")
        self.started.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.started:
            if proc.popen.poll() is not None and proc is not self.killed:
                raise AssertionError(f"kubetask {proc.args[0]} exited "
                                     f"{proc.popen.returncode}: {proc.output()[-3000:]}")

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop(timeout=20)


@pytest.fixture
def procs(kube: ControlPlane, etcd: EtcdProcess, ns: str,
          tmp_path: Path) -> Iterator[Processes]:
    running = Processes(kube, etcd, ns, tmp_path)
    yield running
    # no worker pods left behind for a later test's kubelet
    kube.kubectl("delete", "deployments", "--all", "-n", ns, "--wait=false", check=False)
    running.stop()
    for proc in running.started:
        print(f"--- {proc.args[0]} log\n{proc.output()[-6000:]}")


def tasks(kube: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    items = json.loads(kube.kubectl("get", "tasks", "-n", ns, "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in items}


def wait_for(what: str, check: Any, procs: Processes, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        procs.check_alive()
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last}")


def all_finished(kube: ControlPlane, ns: str, count: int) -> dict[str, dict[str, Any]] | None:
    found = tasks(kube, ns)
    phases = [t.get("status", {}).get("phase") for t in found.values()]
    return found if len(found) == count and all(p in FINISHED for p in phases) else None


def etcd_tasks(etcd: EtcdProcess, ns: str) -> list[Any]:
    async def read() -> list[Any]:
        async with AsyncClient(etcd.endpoint, namespace=ns) as client:
            return await client.list(limit=1000)
    return asyncio.run(read())


def scrape(port: int, ns: str) -> dict[str, float]:
    """The operator's /metrics: the samples of namespace `ns`, by name and other labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("namespace") == ns:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())
                                  if k != "namespace")
                samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def test_examples_reach_their_end_in_kubectl_get_tasks(kube: ControlPlane, ns: str,
                                                      procs: Processes, etcd: EtcdProcess) -> None:
    metrics_port = free_port()
    procs.operator("--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1")
    procs.worker("w1")
    before = wait_for("the operator's /metrics", lambda: _scrape_or_none(metrics_port, ns),
                      procs, timeout=60)
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "tasks-builtin.yaml"),
                 "-f", str(EXAMPLES / "task-unknown-type.yaml"))
    expected = len(tasks(kube, ns))
    done = wait_for("every Task to finish", lambda: all_finished(kube, ns, expected), procs)

    status = {name: t["status"] for name, t in done.items()}
    assert {n: s["phase"] for n, s in status.items() if n != "no-such-type"} == {
        n: "Succeeded" for n in status if n != "no-such-type"}
    assert status["unreliable-urgent"]["attempts"] == 3
    assert status["no-such-type"]["phase"] == "Dead"
    assert "no executor" in status["no-such-type"]["error"]
    assert status["echo-hello"]["result"]["message"] == "hello from a Task"
    for name, s in status.items():
        assert s["taskID"] and s["worker"] == "w1" and s["completionTime"], (name, s)
        assert s["observedGeneration"] == 1
    for item in done.values():  # kopf keeps its records in status.kopf, not annotations
        assert not [a for a in item["metadata"].get("annotations", {}) if "kopf" in a], item
    assert "hello from a Task" not in json.dumps(done["echo-hello"]["status"].get("kopf"))
    # one etcd task per Task, named as the resource and keyed by its uid
    stored = etcd_tasks(etcd, ns)
    assert sorted(t.name for t in stored) == sorted(done)
    assert {t.idempotency_key for t in stored} == {t["metadata"]["uid"] for t in done.values()}
    # the TaskQueue's status from the engine's stats
    queue = json.loads(kube.kubectl("get", "taskqueue", "default", "-n", ns, "-o",
                                    "json").stdout)
    wait_for("the TaskQueue's counts", lambda: json.loads(kube.kubectl(
        "get", "taskqueue", "default", "-n", ns, "-o", "json").stdout).get(
        "status", {}).get("succeeded") == expected - 1, procs)
    assert queue["metadata"]["name"] == "default"
    events = json.loads(kube.kubectl("get", "events", "-n", ns, "-o", "json",
                                     "--field-selector", "reason=TaskDead").stdout)["items"]
    assert [e["involvedObject"]["name"] for e in events] == ["no-such-type"]

    # the operator's counters and its scheduler's, labelled by namespace (and queue)
    after = scrape(metrics_port, ns)
    assert before.get("kubetask_operator_tasks_submitted_total{}", 0) == 0, before
    assert after["kubetask_operator_tasks_submitted_total{}"] >= expected
    assert after["kubetask_operator_status_patches_total{}"] >= expected
    assert after["kubetask_operator_tasks_followed{}"] == expected
    assert after.get("kubetask_operator_submit_refusals_total{}", 0) == 0
    assert after.get("kubetask_operator_feed_restarts_total{}", 0) == 0
    dispatched = sum(v for k, v in after.items()
                     if k.startswith("kubetask_scheduler_tasks_dispatched_total{"))
    assert dispatched >= expected
    assert after["kubetask_scheduler_dispatch_latency_seconds_count{queue=default}"] >= expected
    assert "kubetask_scheduler_tasks_dispatched_total{priority=urgent,queue=default}" in after
    # and its autoscaler's last decision for the queue (min 2, max 4)
    assert 2 <= after["kubetask_scaling_desired_replicas{queue=default}"] <= 4, after


def _scrape_or_none(port: int, ns: str) -> dict[str, float] | None:
    try:
        return scrape(port, ns) or {"up": 1.0}
    except OSError:
        return None


def task_docs(names: list[str], payload: Any, **spec: Any) -> list[dict[str, Any]]:
    return [{"apiVersion": f"{GROUP}/v1alpha1", "kind": "Task", "metadata": {"name": name},
             "spec": {"type": "echo", "payload": payload, **spec}} for name in names]


def echo_tasks(names: list[str], duration: float, **spec: Any) -> str:
    return as_list(task_docs(names, {"duration": duration}, **spec))


def as_list(docs: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})


def phases(kube: ControlPlane, ns: str) -> dict[str, str | None]:
    return {n: t.get("status", {}).get("phase") for n, t in tasks(kube, ns).items()}


def test_operator_killed_and_restarted_submits_nothing_twice(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    first = procs.operator()
    procs.worker("w1")
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    before = [f"before-{i}" for i in range(12)]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(before, 1.0))
    wait_for("a Task running", lambda: "Running" in phases(kube, ns).values(), procs)
    procs.killed = first
    first.kill()  # SIGKILL: no cleanup, kopf's progress as it was
    after = [f"after-{i}" for i in range(5)]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(after, 0.2))
    procs.operator()
    done = wait_for("every Task to finish", lambda: all_finished(kube, ns, 17), procs)

    assert {n: t["status"]["phase"] for n, t in done.items()} == {
        n: "Succeeded" for n in before + after}
    stored = etcd_tasks(etcd, ns)
    assert sorted(t.name for t in stored) == sorted(before + after)  # each exactly once
    assert {t["status"]["taskID"] for t in done.values()} == {t.id for t in stored}


def test_deleting_a_running_task_cancels_it(kube: ControlPlane, ns: str, procs: Processes,
                                            etcd: EtcdProcess) -> None:
    procs.operator()
    procs.worker("w1")
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(["long"], 120))
    wait_for("the Task running", lambda: phases(kube, ns).get("long") == "Running", procs)
    kube.kubectl("delete", "task", "long", "-n", ns, "--timeout=60s")

    (task,) = etcd_tasks(etcd, ns)
    assert task.name == "long" and task.state.value == "cancelled"


def test_a_task_without_a_queue_waits_and_a_too_large_payload_is_refused(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    metrics_port = free_port()
    procs.operator("--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1")
    big = {"blob": "x" * (129 * 1024)}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=as_list(
        task_docs(["orphan"], {"duration": 0}, queue="nowhere") + task_docs(["too-big"], big)))

    def conditions() -> dict[str, dict[str, Any]] | None:
        found = {n: {c["type"]: c for c in t.get("status", {}).get("conditions", [])}
                 for n, t in tasks(kube, ns).items()}
        return found if found.get("orphan", {}).get("QueueReady") and \
            found.get("too-big", {}).get("Submitted") else None

    found = wait_for("the conditions", conditions, procs, timeout=60)
    waiting = found["orphan"]["QueueReady"]
    assert waiting["status"] == "False" and waiting["reason"] == "NoTaskQueue"
    assert "no TaskQueue named nowhere" in waiting["message"]
    assert phases(kube, ns)["orphan"] == "Pending"
    refused = found["too-big"]["Submitted"]
    assert refused["status"] == "False" and refused["reason"] == "InvalidSpec"
    assert "payload" in refused["message"]
    assert phases(kube, ns)["too-big"] == "Invalid"  # `kubectl get tasks` says so
    assert [t.name for t in etcd_tasks(etcd, ns)] == ["orphan"]
    counted = scrape(metrics_port, ns)
    assert counted["kubetask_operator_submit_refusals_total{}"] == 1
    assert counted["kubetask_operator_tasks_submitted_total{}"] == 1


def test_two_operators_at_once_run_each_task_once(kube: ControlPlane, ns: str,
                                                   procs: Processes, etcd: EtcdProcess) -> None:
    procs.operator()
    procs.operator()
    procs.worker("w1")
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    names = [f"both-{i}" for i in range(15)]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(names, 0.2))
    done = wait_for("every Task to finish", lambda: all_finished(kube, ns, 15), procs)

    assert {t["status"]["phase"] for t in done.values()} == {"Succeeded"}
    stored = etcd_tasks(etcd, ns)
    assert sorted(t.name for t in stored) == sorted(names)
    assert [len(t.history) for t in stored] == [1] * 15  # each dispatched once


def deployment(kube: ControlPlane, ns: str, name: str) -> dict[str, Any] | None:
    found = kube.kubectl("get", "deployment", name, "-n", ns, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def test_the_worker_deployment_is_owned_by_the_taskqueue_and_repaired(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    health = free_port()
    procs.operator("--worker-image", "example.org/kubetask-worker:1",
                   "--health-port", str(health), "--health-host", "127.0.0.1")
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    made = wait_for("the worker Deployment", lambda: deployment(kube, ns, "default-workers"),
                    procs, timeout=60)
    queue = json.loads(kube.kubectl("get", "taskqueue", "default", "-n", ns, "-o",
                                    "json").stdout)
    (owner,) = made["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "TaskQueue", queue["metadata"]["uid"], True)
    assert made["spec"]["replicas"] == 2  # minReplicas
    pod = made["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "example.org/kubetask-worker:1"
    assert container["args"][:3] == ["worker", "--queue", "default"]
    assert ["--etcd-endpoints", etcd.endpoint] == container["args"][3:5]
    assert "--max-concurrent" in container["args"] and "4" in container["args"]
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["terminationGracePeriodSeconds"] > 10  # the queue's shutdownTimeoutSeconds

    kube.kubectl("patch", "deployment", "default-workers", "-n", ns, "--type=json", "-p",
                 json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 7},
                             {"op": "replace", "path": "/spec/template/spec/containers/0/image",
                              "value": "evil:latest"}]))

    def repaired() -> bool:
        found = deployment(kube, ns, "default-workers") or {}
        spec = found.get("spec", {})
        return spec.get("replicas") == 2 and \
            spec["template"]["spec"]["containers"][0]["image"] == "example.org/kubetask-worker:1"

    wait_for("the drift repaired", repaired, procs, timeout=60)
    with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=10) as answer:
        assert answer.status == 200  # kopf's liveness endpoint


def test_tasks_run_on_the_worker_pods_of_the_deployment(
        kube: ControlPlane, ns: str, procs: Processes, process_kubelet: ProcessKubelet) -> None:
    """No worker of the test's own: the Deployment's pods (run by the process kubelet, the
    worker image mapped to this checkout's kubetask) lease the tasks; a pod's name is its
    worker's node id. Last in this file: the process kubelet runs from here on."""
    procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "taskqueue.yaml"))
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(
        [f"pod-task-{i}" for i in range(6)], 0.3))
    done = wait_for("every Task to finish", lambda: all_finished(kube, ns, 6), procs,
                    timeout=180)

    pods = json.loads(kube.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert len(names) == 2  # minReplicas
    assert {t["status"]["phase"] for t in done.values()} == {"Succeeded"}
    assert {t["status"]["worker"] for t in done.values()} <= names
    wait_for("the TaskQueue's replicas", lambda: json.loads(kube.kubectl(
        "get", "taskqueue", "default", "-n", ns, "-o", "json").stdout).get(
        "status", {}).get("readyReplicas") == 2, procs, timeout=60)

    events = json.loads(kube.kubectl("get", "events", "-n", ns, "-o", "json",
                                     "--field-selector", "reason=QueueReady").stdout)["items"]
    assert [e["involvedObject"]["kind"] for e in events] == ["TaskQueue"]
    kube.kubectl("delete", "taskqueue", "default", "-n", ns, "--timeout=60s")
    wait_for("the Deployment collected", lambda: deployment(kube, ns, "default-workers") is None,
             procs, timeout=60)


def test_a_stopped_operators_finalizer_holds_a_deleted_namespace_until_released(
        kube: ControlPlane, cluster: Cluster, ns: str, procs: Processes) -> None:
    """What docs/OPERATOR.md tells users: with no operator running, a deleted namespace
    waits on its Tasks' kubetask.io/operator finalizer; releasing it lets the namespace go."""
    operator = procs.operator()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(["held"], 0, queue="none"))
    wait_for("the operator's finalizer", lambda: "kubetask.io/operator" in (
        tasks(kube, ns).get("held", {}).get("metadata", {}).get("finalizers") or []), procs)
    procs.killed = operator
    operator.stop()
    kube.kubectl("delete", "namespace", ns, "--wait=false")

    def held() -> str | None:
        found = json.loads(kube.kubectl("get", "namespace", ns, "-o", "json").stdout)
        for cond in found.get("status", {}).get("conditions", []):
            if cond["type"] == "NamespaceFinalizersRemaining" and cond["status"] == "True":
                return str(cond["message"])
        return None

    assert "kubetask.io/operator" in wait_for("the namespace held by the finalizer", held,
                                              procs, timeout=90)
    assert tasks(kube, ns)["held"]["metadata"]["deletionTimestamp"]
    cluster.delete_namespace(ns)  # releases the finalizers, then waits for the namespace
    gone = kube.kubectl("get", "namespace", ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_a_repeated_bug_in_the_change_feed_stops_the_operator_with_exit_1(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess) -> None:
    operator = procs.operator()
    procs.killed = operator  # it is expected to exit
    kube.kubectl("apply", "-n", ns, "-f", "-", input=echo_tasks(["seen"], 0, queue="none"))
    wait_for("the Task's status", lambda: phases(kube, ns).get("seen"), procs)

    async def write_garbage() -> None:
        # Records the feed cannot read: a bug each time; written again after a reopening.
        store = Store([etcd.endpoint])
        await store.start()
        try:
            for i in range(200):  # bounded: 60 s
                if operator.popen.poll() is not None:
                    return
                await store.put(Keyspace(namespace=ns).task(f"garbage{i}"), b"not a record")
                await asyncio.sleep(0.3)
        finally:
            await store.stop()

    asyncio.run(write_garbage())
    assert operator.popen.wait(30) == 1
    log = operator.output()
    assert "failed 3 times within 60s" in log and "kubetask: error:" in log
