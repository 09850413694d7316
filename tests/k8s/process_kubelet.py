"""ProcessKubelet, a TEST DOUBLE of the kubelet: it runs each Pod bound to its Node as local
processes, so that the real controllers and scheduler drive real programs without a
container runtime.

What it does: registers a Node and keeps it Ready (status heartbeats and a Lease in
kube-node-lease); follows the Pods bound to it (list + watch on spec.nodeName); starts each
container's command + args (or the entry point its image is mapped to) in its own process
group, with the container's env (plain values, downward-API fieldRefs, $(VAR) expansion);
reports Pod status (Pending, Running, Succeeded, Failed; containerStatuses with exit codes
and restart counts; the Ready conditions) and restarts containers per restartPolicy; runs
httpGet readiness probes; on deletion sends SIGTERM to each process group, waits the grace
period, sends SIGKILL, then deletes the Pod with grace 0. What it does not do: images,
networking (every Pod's IP is 127.0.0.1), volumes, liveness/startup probes, exec/tcpSocket
probes, init containers, resource limits, envFrom/secrets/configMaps.

Ports: every Pod shares the host's network, so two Pods declaring containerPort 8081 would
collide. The double gives each declared containerPort of each Pod a free port of its own
(kept across container restarts) and substitutes it wherever the manifest names that port:
an arg or a plain env value equal to the port's number becomes the free port's number
(`--health-port 8081` -> `--health-port 41234`), and a probe's `port`, by name (`health`)
or by number, is the free port. `port_of(namespace, pod, name)` tells a test which it got.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetask.etcd_process import free_port
from tests.k8s.api import STRATEGIC_MERGE_PATCH, ApiClient, ApiError, Json

log = logging.getLogger(__name__)

POD_IP = "127.0.0.1"
# Image names (without tag) that stand for the project's own image: the `process_kubelet`
# fixture maps them to this checkout's `python -m kubetask` (`make images` builds the real ones).
KUBETASK_IMAGES = ("kubetask", "kubetask/worker")
LEASE_NAMESPACE = "kube-node-lease"
_RESTART_BACKOFF_CAP = 10.0


class Unsupported(Exception):
    """A Pod asks for something this test double does not do."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Exit:
    """How one container process ended (for tests to assert on)."""

    namespace: str
    pod: str
    container: str
    code: int
    terminated: bool  # it had been sent SIGTERM because its Pod was being deleted
    killed: bool  # it outlived the grace period and got SIGKILL


@dataclass
class ContainerRun:
    name: str
    spec: Json
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restart_count: int = 0
    started_at: str = ""
    last: Json | None = None  # the last `terminated` state
    done: bool = False  # ended and will not be restarted
    restart_at: float = 0.0
    waiting: tuple[str, str] = ("ContainerCreating", "")
    ports: dict[str, int] = field(default_factory=dict)  # declared name or number -> free port
    ready: bool = False  # its readiness probe passed last (no probe: while it runs)
    probe_at: float = 0.0
    failures: int = 0  # readiness probes failed in a row


@dataclass(frozen=True)
class ProbeResult:
    """One readiness probe (for tests to assert on): the HTTP status, 0 when none came."""

    namespace: str
    pod: str
    container: str
    status: int


@dataclass
class PodRun:
    uid: str
    namespace: str
    name: str
    directory: Path
    containers: list[ContainerRun]
    start_time: str = field(default_factory=now)
    deadline: float | None = None  # set when its deletion began
    killed: bool = False
    reported: str = ""
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)


def image_name(image: str) -> str:
    """The image without its tag or digest: `kubetask/worker:0.1` -> `kubetask/worker`."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names are replaced, $$ is a literal $."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _VAR.sub(one, text)


def field_value(pod: Json, path: str) -> str:
    """A downward-API fieldRef of `pod`."""
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"], "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": POD_IP, "status.podIPs": POD_IP,
        "status.hostIP": POD_IP, "status.hostIPs": POD_IP,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise Unsupported(f"fieldRef {path!r} is not supported by the process kubelet")


class ProcessKubelet:
    """The kubelet of one Node, as threads of the test process (see the module docstring).

    `image_map` maps an image name (without tag) to the argv its entry point stands for;
    a container's `command` overrides it, as it overrides an image's ENTRYPOINT.
    """

    def __init__(self, api: ApiClient, node: str, workdir: Path, *,
                 image_map: Mapping[str, Sequence[str]] | None = None,
                 heartbeat_seconds: float = 10.0, resync_seconds: float = 0.2) -> None:
        self.api, self.node, self.workdir = api, node, workdir
        self.image_map = {image_name(k): list(v) for k, v in (image_map or {}).items()}
        self.heartbeat_seconds, self.resync_seconds = heartbeat_seconds, resync_seconds
        self.exits: list[Exit] = []
        self.probes: list[ProbeResult] = []
        self.started_in = 0.0
        self._pods: dict[str, Json] = {}
        self._runs: dict[str, PodRun] = {}
        self._finalized: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_heartbeat = 0.0
        self._ready_since = now()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._register()
        for target in (self._watch_loop, self._sync_loop):
            thread = threading.Thread(target=target, name=f"process-kubelet-{target.__name__}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        self.started_in = time.monotonic() - began

    def wait_schedulable(self, timeout: float = 60.0) -> None:
        """Wait until the Node carries no NoSchedule taint (the API server puts `not-ready` on
        a new Node; the node lifecycle controller lifts it once the Node is Ready)."""
        for _ in range(int(timeout / 0.2)):
            taints = self.api.get(f"/api/v1/nodes/{self.node}")["spec"].get("taints") or []
            if not [t for t in taints if t.get("effect") == "NoSchedule"]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"node {self.node} still tainted after {timeout:.0f} s: {taints}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following Pods; end every process (SIGTERM, then SIGKILL after 5 s)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        runs = list(self._runs.values())
        for run in runs:
            self._signal(run, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for run in runs:
            for container in run.containers:
                self._reap(run, container, deadline - time.monotonic())

    def log_path(self, namespace: str, pod: str, container: str) -> Path | None:
        """The file a container's stdout and stderr go to (None before it started); of the
        latest Pod of that name if there were several. Kept after the Pod is gone."""
        logs = list(self.workdir.glob(f"{namespace}_{pod}_*/{container}.log"))
        return max(logs, key=lambda log: log.stat().st_mtime) if logs else None

    def port_of(self, namespace: str, pod: str, port: str | int) -> int | None:
        """The free port a running Pod's declared container port (name or number) got."""
        for run in list(self._runs.values()):
            if (run.namespace, run.name) == (namespace, pod):
                for container in run.containers:
                    if str(port) in container.ports:
                        return container.ports[str(port)]
        return None

    # -- the Node and its Lease --------------------------------------------------------------

    def _register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node, "labels": {
            "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
            "kubetask.io/process-kubelet": "true"}}, "spec": {}}
        try:
            created = self.api.create("/api/v1/nodes", node)
        except ApiError as exc:
            if exc.status != 409:
                raise
            created = self.api.get(f"/api/v1/nodes/{self.node}")
        self._node_uid = created["metadata"]["uid"]
        self._version = self.api.get("/version").get("gitVersion", "")
        self._heartbeat()

    def _heartbeat(self) -> None:
        self.api.patch(f"/api/v1/nodes/{self.node}/status", {"status": self._node_status()},
                       STRATEGIC_MERGE_PATCH)
        self._renew_lease()
        self._next_heartbeat = time.monotonic() + self.heartbeat_seconds

    def _node_status(self) -> Json:
        resources = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        stamp = now()

        def condition(kind: str, status: str, reason: str) -> Json:
            return {"type": kind, "status": status, "reason": reason, "message": reason,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": self._ready_since}

        return {
            "capacity": resources, "allocatable": resources,
            "conditions": [
                condition("Ready", "True", "KubeletReady"),
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            ],
            "addresses": [{"type": "InternalIP", "address": POD_IP},
                          {"type": "Hostname", "address": self.node}],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": platform.release(),
                "osImage": "process kubelet (a test double)", "containerRuntimeVersion": "process://0",
                "kubeletVersion": self._version, "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64"},
        }

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": micro_now()}
        try:
            self.api.patch(f"{path}/{self.node}", {"spec": spec})
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.api.create(path, {"metadata": {"name": self.node, "ownerReferences": [{
                "apiVersion": "v1", "kind": "Node", "name": self.node, "uid": self._node_uid}]},
                "spec": spec})

    # -- following the Pods bound to this Node ------------------------------------------------

    def _watch_loop(self) -> None:
        selector = f"spec.nodeName={self.node}"
        while not self._stop.is_set():
            try:
                listing = self.api.get("/api/v1/pods", fieldSelector=selector)
                with self._lock:
                    self._pods = {p["metadata"]["uid"]: p for p in listing["items"]}
                self._wake.set()
                version = listing["metadata"]["resourceVersion"]
                while not self._stop.is_set():
                    version = self._watch_once(selector, version)
            except (ApiError, OSError, ValueError) as exc:
                if not self._stop.is_set():
                    log.info("process kubelet: pod watch ended (%s); listing again", exc)
                    self._stop.wait(0.5)

    def _watch_once(self, selector: str, version: str) -> str:
        for event in self.api.watch("/api/v1/pods", version, 5, fieldSelector=selector):
            pod = event["object"]
            version = pod["metadata"]["resourceVersion"]
            if event["type"] == "BOOKMARK":
                continue
            with self._lock:
                if event["type"] == "DELETED":
                    self._pods.pop(pod["metadata"]["uid"], None)
                else:
                    self._pods[pod["metadata"]["uid"]] = pod
            self._wake.set()
            if self._stop.is_set():
                break
        return version

    def _sync_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.resync_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= self._next_heartbeat:
                    self._heartbeat()
                self._sync()
            except (ApiError, OSError) as exc:
                log.warning("process kubelet: sync failed: %s", exc)

    def _sync(self) -> None:
        with self._lock:
            pods = dict(self._pods)
        for uid, pod in pods.items():
            if uid in self._finalized:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(pod)
            elif uid in self._runs or pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                run = self._runs.get(uid) or self._admit(pod)
                self._tend(pod, run)
                self._report(pod, run)
        for uid in set(self._runs) - set(pods):  # deleted with grace 0 by someone else
            run = self._runs.pop(uid)
            self._signal(run, signal.SIGKILL)
            for container in run.containers:
                self._reap(run, container, 5)

    # -- running containers -------------------------------------------------------------------

    def _admit(self, pod: Json) -> PodRun:
        meta = pod["metadata"]
        directory = self.workdir / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"
        directory.mkdir(parents=True, exist_ok=True)
        run = PodRun(meta["uid"], meta["namespace"], meta["name"], directory, [
            ContainerRun(spec["name"], spec, directory / f"{spec['name']}.log",
                         ports=self._ports(spec))
            for spec in pod["spec"]["containers"]])
        if pod["spec"].get("initContainers"):
            for container in run.containers:
                container.waiting = ("CreateContainerConfigError",
                                     "init containers are not supported by the process kubelet")
                container.done = True
        self._runs[run.uid] = run
        return run

    @staticmethod
    def _ports(spec: Json) -> dict[str, int]:
        """A free port for each declared containerPort, under its number and its name."""
        ports: dict[str, int] = {}
        for declared in spec.get("ports") or []:
            ports[str(declared["containerPort"])] = free = free_port()
            if declared.get("name"):
                ports[declared["name"]] = free
        return ports

    def _tend(self, pod: Json, run: PodRun) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        for container in run.containers:
            if container.process is not None and container.process.poll() is not None:
                code = self._reap(run, container, 0)
                container.done = policy == "Never" or (policy == "OnFailure" and code == 0)
                delay = min(_RESTART_BACKOFF_CAP, 2.0 ** container.restart_count)
                container.restart_at = time.monotonic() + delay
                container.restart_count += 0 if container.done else 1
            if container.process is None and not container.done and \
                    time.monotonic() >= container.restart_at:
                self._start(pod, run, container)
            self._probe(run, container)

    def _start(self, pod: Json, run: PodRun, container: ContainerRun) -> None:
        try:
            env = {name: self._mapped(container, value)
                   for name, value in self._env(pod, container.spec).items()}
            argv = [self._mapped(container, expand(part, env))
                    for part in self._argv(container.spec)]
            with open(container.log, "ab") as out:
                container.process = subprocess.Popen(
                    argv, env=env, cwd=container.spec.get("workingDir") or run.directory,
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
        except Unsupported as exc:
            container.waiting, container.done = ("CreateContainerConfigError", str(exc)), True
            return
        except OSError as exc:
            container.waiting, container.done = ("RunContainerError", str(exc)), True
            return
        container.started_at = now()
        container.ready, container.failures = False, 0
        container.probe_at = time.monotonic() + float(
            (container.spec.get("readinessProbe") or {}).get("initialDelaySeconds", 0))
        log.info("process kubelet: %s/%s %s started as pid %d: %s", run.namespace, run.name,
                 container.name, container.process.pid, argv)

    @staticmethod
    def _mapped(container: ContainerRun, value: str) -> str:
        """A declared containerPort's number, as an arg or env value, is its free port."""
        free = container.ports.get(value) if value.isdigit() else None
        return str(free) if free is not None else value

    def _probe(self, run: PodRun, container: ContainerRun) -> None:
        """Run the container's readiness probe when it is due (httpGet on 127.0.0.1)."""
        probe = container.spec.get("readinessProbe")
        if container.process is None:
            container.ready = False
            return
        if probe is None:
            container.ready = True
            return
        if time.monotonic() < container.probe_at:
            return
        container.probe_at = time.monotonic() + float(probe.get("periodSeconds", 10))
        status = self._http_get(container, probe)
        self.probes.append(ProbeResult(run.namespace, run.name, container.name, status))
        if 200 <= status < 400:
            container.ready, container.failures = True, 0
        else:
            container.failures += 1  # Ready until failureThreshold failures in a row
            if container.failures >= int(probe.get("failureThreshold", 3)):
                container.ready = False

    @staticmethod
    def _http_get(container: ContainerRun, probe: Json) -> int:
        """The status of the probe's GET (0: no answer); the timeout at most 2 s so that a
        silent container does not hold up the others."""
        get = probe.get("httpGet")
        if get is None or get.get("scheme", "HTTP") != "HTTP":
            return 0  # only httpGet over HTTP is supported: the container is never Ready
        port = container.ports.get(str(get["port"])) or (
            int(get["port"]) if str(get["port"]).isdigit() else 0)
        timeout = min(float(probe.get("timeoutSeconds", 1)), 2.0)
        connection = http.client.HTTPConnection(POD_IP, port, timeout=timeout)
        try:
            connection.request("GET", get.get("path", "/"))
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            connection.close()

    def _argv(self, spec: Json) -> list[str]:
        args = list(spec.get("args") or [])
        if spec.get("command"):
            return [*spec["command"], *args]
        entry = self.image_map.get(image_name(spec.get("image", "")))
        if entry is None:
            raise Unsupported(f"image {spec.get('image')!r} is not in the process kubelet's "
                              "image map, and the container has no command")
        return [*entry, *args]

    def _env(self, pod: Json, spec: Json) -> dict[str, str]:
        if spec.get("envFrom"):
            raise Unsupported("envFrom is not supported by the process kubelet")
        env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                        "/usr/bin", "/bin"]),
               "HOSTNAME": pod["metadata"]["name"], "HOME": str(self.workdir)}
        for entry in spec.get("env") or []:
            if "valueFrom" not in entry:
                env[entry["name"]] = expand(entry.get("value", ""), env)
            elif "fieldRef" in entry["valueFrom"]:
                env[entry["name"]] = field_value(pod, entry["valueFrom"]["fieldRef"]["fieldPath"])
            else:
                raise Unsupported(f"env {entry['name']}: only value and valueFrom.fieldRef are "
                                  "supported by the process kubelet")
        return env

    def _reap(self, run: PodRun, container: ContainerRun, timeout: float) -> int:
        """Wait for a container's process; record its exit. SIGKILL if it outlives `timeout`."""
        process = container.process
        if process is None:
            return container.last["exitCode"] if container.last else 0
        try:
            process.wait(max(timeout, 0))
        except subprocess.TimeoutExpired:
            self._kill_group(process.pid, signal.SIGKILL)
            run.killed = True
            process.wait(5)
        self._kill_group(process.pid, signal.SIGKILL)  # anything it left in its group
        code = process.returncode if process.returncode >= 0 else 128 - process.returncode
        container.process = None
        container.last = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "startedAt": container.started_at, "finishedAt": now(),
                          "containerID": f"process://{process.pid}"}
        self.exits.append(Exit(run.namespace, run.name, container.name, code,
                               run.deadline is not None, run.killed))
        log.info("process kubelet: %s/%s %s exited %d", run.namespace, run.name, container.name, code)
        return code

    @staticmethod
    def _kill_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def _signal(self, run: PodRun, sig: signal.Signals) -> None:
        for container in run.containers:
            if container.process is not None and container.process.poll() is None:
                self._kill_group(container.process.pid, sig)

    # -- deletion -----------------------------------------------------------------------------

    def _terminate(self, pod: Json) -> None:
        run = self._runs.get(pod["metadata"]["uid"])
        if run is not None:
            if run.deadline is None:
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                if grace is None:
                    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
                run.deadline = time.monotonic() + float(grace)
                self._signal(run, signal.SIGTERM)
            for container in run.containers:
                container.done = True
                if container.process is not None and container.process.poll() is not None:
                    self._reap(run, container, 0)
            live = [c for c in run.containers if c.process is not None]
            if live and time.monotonic() < run.deadline:
                return
            for container in live:
                self._reap(run, container, run.deadline - time.monotonic())
            with contextlib.suppress(ApiError):
                self._report(pod, run)
            del self._runs[run.uid]
        self._finalize(pod)

    def _finalize(self, pod: Json) -> None:
        meta = pod["metadata"]
        try:
            self.api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", {
                "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": meta["uid"]}})
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
        self._finalized.add(meta["uid"])

    # -- Pod status --------------------------------------------------------------------------

    def _report(self, pod: Json, run: PodRun) -> None:
        status = self._pod_status(run)
        signature = repr(status)
        if signature == run.reported:
            return
        path = f"/api/v1/namespaces/{run.namespace}/pods/{run.name}/status"
        try:
            self.api.patch(path, {"status": status}, STRATEGIC_MERGE_PATCH)
        except ApiError as exc:
            if exc.status != 404:
                raise
        run.reported = signature

    def _pod_status(self, run: PodRun) -> Json:
        running = [c.process is not None for c in run.containers]
        if all(c.done for c in run.containers):
            failed = any(not c.last or c.last["exitCode"] != 0 for c in run.containers)
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running" if any(c.started_at for c in run.containers) else "Pending"
        ready = "True" if all(running) and phase == "Running" and \
            all(c.ready for c in run.containers) else "False"
        conditions = [self._condition(run, kind, value) for kind, value in (
            ("PodScheduled", "True"), ("Initialized", "True"),
            ("ContainersReady", ready), ("Ready", ready))]
        return {
            "phase": phase, "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}], "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}], "startTime": run.start_time, "conditions": conditions,
            "containerStatuses": [self._container_status(c) for c in run.containers],
        }

    @staticmethod
    def _condition(run: PodRun, kind: str, value: str) -> Json:
        previous = run.transitions.get(kind)
        if previous is None or previous[0] != value:
            run.transitions[kind] = (value, now())
        return {"type": kind, "status": value, "lastProbeTime": None,
                "lastTransitionTime": run.transitions[kind][1]}

    @staticmethod
    def _container_status(container: ContainerRun) -> Json:
        state: dict[str, Any]
        if container.process is not None:
            state = {"running": {"startedAt": container.started_at}}
        elif container.done and container.last:
            state = {"terminated": container.last}
        elif container.last:
            state = {"waiting": {"reason": "CrashLoopBackOff",
                                 "message": f"restarting after exit {container.last['exitCode']}"}}
        else:
            state = {"waiting": {"reason": container.waiting[0], "message": container.waiting[1]}}
        status: Json = {
            "name": container.name, "image": container.spec.get("image", ""), "imageID": "",
            "ready": container.process is not None and container.ready,
            "started": container.process is not None,
            "restartCount": container.restart_count, "state": state, "lastState": {},
        }
        if container.process is not None:
            status["containerID"] = f"process://{container.process.pid}"
        if container.last and "terminated" not in state:
            status["lastState"] = {"terminated": container.last}
        return status
