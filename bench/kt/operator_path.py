"""The operator path of bench.operator_bench: a test control plane (etcd + kube-apiserver from
hack/bin, tests/k8s's ControlPlane), `kubetask operator` and the workers on a fresh kubetask
etcd, n Tasks applied with one `kubectl apply -f`, each Task's phases seen by a watch in this
process; the operator's RSS and CPU and the API calls per Task (the API server's own count)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from tests.k8s.api import ApiError
from tests.k8s.apiserver_metrics import STREAMING, CallKey, per_object_calls, request_totals
from tests.k8s.cluster import CONTROL_PLANE_TOOLS, ControlPlane, missing_tools, tools_dir

from bench.kt.cluster import NAMESPACE, QUEUE, Cluster, clean_env
from bench.kt.measure import BenchTimeout
from bench.kt.seen import RssSampler, Seen, p50_p99, spans_ms
from bench.peers.procs import REPO_ROOT, WorkerGroup

API = f"/apis/kubetask.io/v1alpha1/namespaces/{NAMESPACE}"
IDLE_SECONDS = 2.0  # after the TaskQueue is Ready, before the idle RSS
SETTLE_SECONDS = 2.0  # after the last Succeeded, before the calls and RSS "after"
# How the file goes in: kubectl sends one object after the other in each case.
KUBECTL = {"apply": ["apply"],  # client-side: GET namespace, GET Task, POST per object
           "server-side": ["apply", "--server-side"],  # one PATCH (apply) per object
           "create": ["create"]}  # one POST per object


def check_tools() -> None:
    """SystemExit with what to run when the control plane's binaries are missing."""
    missing = missing_tools(CONTROL_PLANE_TOOLS)
    if missing or not shutil.which("kubectl"):
        raise SystemExit(f"bench.operator_bench needs {', '.join(missing) or 'kubectl'} "
                         f"(in {tools_dir()}: `make kube-tools`; kubectl on PATH)")


def task_kind(duration: float) -> tuple[str, Any]:
    """(type, payload) of the benchmark's tasks: noop, or echo sleeping `duration` s."""
    return ("echo", {"duration": duration}) if duration > 0 else ("noop", None)


MEASURED = "bench-"  # the measured Tasks' names start so


def manifest(n: int, duration: float = 0.0, prefix: str = "bench") -> str:
    """n Tasks as one multi-document YAML file (JSON documents)."""
    type_, payload = task_kind(duration)
    spec: dict[str, Any] = {"type": type_, "queue": QUEUE}
    if payload is not None:
        spec["payload"] = payload
    return "".join(
        "---\n" + json.dumps({"apiVersion": "kubetask.io/v1alpha1", "kind": "Task",
                              "metadata": {"name": f"{prefix}-{i:05d}"}, "spec": spec}) + "\n"
        for i in range(n))


def taskqueue(max_concurrent: int) -> str:
    return json.dumps({"apiVersion": "kubetask.io/v1alpha1", "kind": "TaskQueue",
                       "metadata": {"name": QUEUE},
                       "spec": {"worker": {"maxConcurrent": max_concurrent}}})


def spawn_operator(plane: ControlPlane, cluster: Cluster) -> WorkerGroup:
    log = cluster.workdir / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubetask", "operator", "--etcd-endpoints", cluster.endpoint,
             "--namespace", NAMESPACE, "--log-level", "warn"],
            cwd=REPO_ROOT, env={**clean_env(), "KUBECONFIG": str(plane.kubeconfig)},
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    return WorkerGroup([process], [log])


def wait(what: str, done: Callable[[], bool], check: Callable[[], None],
         deadline_s: float, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + deadline_s
    while not done():
        check()
        if time.monotonic() > deadline:
            raise BenchTimeout(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(poll_s)


def established(plane: ControlPlane) -> bool:
    """Both CRDs served (polled: `kubectl wait` fails while a CRD has no conditions yet)."""
    for name in ("tasks.kubetask.io", "taskqueues.kubetask.io"):
        crd = plane.api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        if not any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in crd.get("status", {}).get("conditions") or []):
            return False
    return True


def queue_ready(plane: ControlPlane, workers: int) -> bool:
    status = plane.api.get(f"{API}/taskqueues/{QUEUE}").get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions", []))
    return ready and status.get("workers", 0) >= workers


class TaskWatch:
    """A thread that lists and watches the Tasks, noting each one's phase, until stopped;
    a failed list or watch (the API server answers 429 while a new CRD's storage starts,
    a watch ends) is listed and watched again."""

    def __init__(self, plane: ControlPlane, seen: Seen) -> None:
        self._plane, self._seen = plane, seen
        self._stop = threading.Event()
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="task-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # the watch in flight ends with its timeout or the control plane

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._once()
            except (ApiError, OSError, http.client.HTTPException, ValueError):
                self.errors += 1
                self._stop.wait(0.5)

    def _once(self) -> None:
        listed = self._plane.api.get(f"{API}/tasks")
        for item in listed["items"]:
            self._note(item)
        for event in self._plane.api.watch(f"{API}/tasks",
                                           listed["metadata"]["resourceVersion"], 60):
            if self._stop.is_set():
                return
            if event.get("type") in ("ADDED", "MODIFIED"):
                self._note(event["object"])

    def _note(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if name.startswith(MEASURED):  # not the warm-up Task
            self._seen.note(name, (obj.get("status") or {}).get("phase"))


class OperatorRun:
    """One measurement of the operator path (start(), measure(), stop())."""

    def __init__(self, n: int, workers: int, max_concurrent: int, duration: float,
                 kubectl: str = "apply") -> None:
        self.n, self.workers, self.max_concurrent = n, workers, max_concurrent
        self.duration, self.kubectl = duration, KUBECTL[kubectl]
        self.plane = ControlPlane(Path(tempfile.mkdtemp(prefix="bench-k8s-")))
        self.cluster = Cluster("operator")
        self.operator: WorkerGroup | None = None

    def check(self) -> None:
        self.cluster.check_alive()
        if self.operator is not None:
            self.operator.check_alive()

    def start(self) -> None:
        plane = self.plane
        plane.start()
        plane.kubectl("apply", "-f", str(REPO_ROOT / "crds"))
        wait("the CRDs Established", lambda: established(plane), lambda: None, 60)
        plane.kubectl("create", "namespace", NAMESPACE)
        self.cluster.start_etcd()
        self.operator = spawn_operator(plane, self.cluster)
        self.cluster.start_workers(self.workers, self.max_concurrent)
        plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=taskqueue(self.max_concurrent))
        wait("the TaskQueue Ready with its workers", lambda: queue_ready(plane, self.workers),
             self.check, 90)
        # One Task first: the operator's Task watch works (its first request may have met the
        # new CRD's 429 and be in kopf's backoff), the path is warm. Not measured.
        plane.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=manifest(1, prefix="warmup"))
        wait("the warm-up Task Succeeded", lambda: plane.api.get(
            f"{API}/tasks/warmup-00000").get("status", {}).get("phase") == "Succeeded",
            self.check, 90)
        time.sleep(IDLE_SECONDS)

    def pids(self) -> dict[str, int]:
        assert self.operator is not None
        pids = {"operator": self.operator.pids[0],
                **{k: v for k, v in self.cluster.pids().items() if k != "etcd"},
                "kubetask-etcd": self.cluster.pids()["etcd"]}
        for child in self.plane.processes:
            if child.process is not None:
                pids[child.name if child.name != "etcd" else "kube-etcd"] = child.process.pid
        pids["bench (watch, kubectl)"] = psutil.Process().pid
        return pids

    def measure(self, deadline_s: float = 600) -> dict[str, Any]:
        """Apply n Tasks at once, wait until the watch saw each Succeeded; the figures."""
        file = self.cluster.workdir / "tasks.yaml"
        file.write_text(manifest(self.n, self.duration))
        seen = Seen()
        watch = TaskWatch(self.plane, seen)
        watch.start()
        rss = RssSampler(self.pids()["operator"])
        idle_rss = rss.now()
        cpu = cpu_seconds(self.pids())
        calls_before = request_totals(self.plane.api)
        rss.start()
        t0 = time.monotonic()
        self.plane.kubectl(*self.kubectl, "-n", NAMESPACE, "-f", str(file), timeout=deadline_s)
        applied = time.monotonic() - t0
        try:
            wait(f"{self.n} Tasks Succeeded in the watch",
                 lambda: seen.count_succeeded() >= self.n, lambda: self._check_seen(seen),
                 deadline_s)
        finally:
            watch.stop()
        time.sleep(SETTLE_SECONDS)
        calls = request_totals(self.plane.api) - calls_before
        cpu_used = {k: v - cpu[k] for k, v in cpu_seconds(self.pids()).items()}
        return figures(self.n, seen, t0, applied, calls, cpu_used,
                       {"idle": idle_rss, "peak": rss.stop(), "after": rss.now()})

    def _check_seen(self, seen: Seen) -> None:
        self.check()
        if seen.failed:
            raise RuntimeError(f"Tasks ended without success: {dict(list(seen.failed.items())[:5])}")

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        self.cluster.stop()
        self.plane.stop()
        shutil.rmtree(self.plane.base, ignore_errors=True)

    def logs(self) -> str:
        return (self.operator.log_tails() if self.operator else "") + self.cluster.log_tails()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        out[name] = times.user + times.system + times.children_user + times.children_system
    return out


def figures(n: int, seen: Seen, t0: float, applied: float, calls: Counter[CallKey],
            cpu: dict[str, float], rss: dict[str, float]) -> dict[str, Any]:
    """The run's figures (name -> value) and its details."""
    run_p50, run_p99 = p50_p99(spans_ms(seen.started, seen.appeared))
    ok_p50, ok_p99 = p50_p99(spans_ms(seen.succeeded, seen.appeared))
    from_start = p50_p99(spans_ms(seen.started, t0))
    task_calls = per_object_calls(calls, "tasks")
    breakdown = {f"{k.verb} {k.resource}{'/' + k.subresource if k.subresource else ''}": v
                 for k, v in sorted(calls.items()) if v}
    return {
        "seen_to_running_p50": run_p50, "seen_to_running_p99": run_p99,
        "seen_to_succeeded_p50": ok_p50, "seen_to_succeeded_p99": ok_p99,
        "start_to_running_p50": from_start[0], "start_to_running_p99": from_start[1],
        "makespan": round(max(seen.succeeded.values()) - t0, 2),
        "submit": round(applied, 2),
        "operator_rss_idle": round(rss["idle"], 1), "operator_rss_peak": round(rss["peak"], 1),
        "operator_rss_after": round(rss["after"], 1),
        "control_cpu_ms_per_task": round(cpu["operator"] * 1000 / n, 3),
        "total_cpu_ms_per_task": round(sum(cpu.values()) * 1000 / n, 3),
        "task_api_calls_per_task": round(sum(task_calls.values()) / n, 2),
        "api_calls_per_task": round(sum(v for k, v in calls.items()
                                        if k.verb not in STREAMING) / n, 2),
        "details": {"api_calls": breakdown,
                    "cpu_ms_per_task": {k: round(v * 1000 / n, 3) for k, v in cpu.items()}},
    }
