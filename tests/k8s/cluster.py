"""A real Kubernetes control plane for the tests: etcd and kube-apiserver (ControlPlane), and
kube-controller-manager with kube-scheduler on top (Cluster), as child processes on 127.0.0.1.

The binaries come from hack/kube-tools (`make kube-tools` builds them into hack/bin; the env
var KUBETASK_KUBE_TOOLS names another folder). Every process runs in its own session, logs
to a file beside its data, and is stopped by its process group at the end.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kubetask.etcd_process import free_port
from tests.k8s.api import ApiClient
from tests.k8s.pki import KeyPair, TestPki

ROOT = Path(__file__).resolve().parents[2]
TOOLS_ENV = "KUBETASK_KUBE_TOOLS"
CONTROL_PLANE_TOOLS = ("etcd", "kube-apiserver")
CLUSTER_TOOLS = (*CONTROL_PLANE_TOOLS, "kube-controller-manager", "kube-scheduler")
START_TIMEOUT = 60.0

# The controllers that turn a Deployment into Pods and clean up after it, the namespace
# controller (a deleted namespace's objects are deleted, then the namespace goes), and the
# node lifecycle controller (it lifts the not-ready taint the API server puts on a new
# Node); nothing else (no IPAM, no endpoints, no jobs, no cloud, no certificates): see
# README.md.
CONTROLLERS = (
    "deployment-controller", "replicaset-controller", "garbage-collector-controller",
    "namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
    "node-lifecycle-controller",
)


def tools_dir() -> Path:
    return Path(os.environ.get(TOOLS_ENV) or ROOT / "hack" / "bin")


def missing_tools(names: Sequence[str]) -> list[str]:
    return [name for name in names if not os.access(tools_dir() / name, os.X_OK)]


class StartError(RuntimeError):
    """A control-plane process exited or did not become ready; the message names its log."""


class ChildProcess:
    """One binary in its own session; stop() ends its whole process group."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=out,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise StartError(f"{self.name} exited with code {self.process.returncode}: "
                             f"{tail(self.log)} (log: {self.log})")

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of its group
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(what: str, ready: Callable[[], bool], process: ChildProcess,
               timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        if ready():
            return
        time.sleep(0.1)
    raise StartError(f"{what} not ready within {timeout:.0f} s: {tail(process.log)} "
                     f"(log: {process.log})")


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    """A kubeconfig with the certificates inline (JSON, which is YAML too)."""
    def data(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "kubetask-test",
        "clusters": [{"name": "kubetask-test", "cluster": {
            "server": server, "certificate-authority-data": data(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": data(client.cert), "client-key-data": data(client.key)}}],
        "contexts": [{"name": "kubetask-test", "context": {"cluster": "kubetask-test", "user": user}}],
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    userGroups: [system:serviceaccounts:kube-system]
  - level: Metadata
    userGroups: [system:serviceaccounts]
  - level: None
"""


class ControlPlane:
    """etcd + kube-apiserver, envtest-style: RBAC on, no ServiceAccount admission, an
    admin (system:masters) kubeconfig. Nothing runs Pods: see Cluster and ProcessKubelet."""

    def __init__(self, base: Path, tools: Path | None = None) -> None:
        self.base, self.tools = base, tools or tools_dir()
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = base / "admin.kubeconfig"
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
                    "KUBECACHEDIR": str(base / "kubectl-cache")}
        self.processes: list[ChildProcess] = []
        self.started_in = 0.0
        self.pki: TestPki
        self.api: ApiClient

    def start(self) -> None:
        began = time.monotonic()
        self.base.mkdir(parents=True, exist_ok=True)
        self.pki = TestPki(self.base / "pki")
        try:
            self._start_etcd()
            self._start_apiserver()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _start_etcd(self) -> None:
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        data = self.base / "etcd"
        data.mkdir(mode=0o700)
        etcd = ChildProcess("etcd", [
            str(self.tools / "etcd"), "--data-dir", str(data), "--listen-client-urls", client,
            "--advertise-client-urls", client, "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}",
            "--unsafe-no-fsync", "--log-level", "warn"], self.base / "etcd.log")
        self.etcd_url = client
        self._run(etcd, lambda: _http_ok(f"{client}/health"))

    def _start_apiserver(self) -> None:
        pki = self.pki
        serving = pki.serving("apiserver")
        admin = pki.client("admin", "kubetask-admin", ("system:masters",))
        apiserver = ChildProcess("kube-apiserver", [
            str(self.tools / "kube-apiserver"), f"--etcd-servers={self.etcd_url}",
            f"--secure-port={self.port}", "--bind-address=127.0.0.1",
            f"--cert-dir={pki.directory}", f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}", f"--client-ca-file={pki.ca.cert}",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount", "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}/",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--shutdown-send-retry-after=true", "--shutdown-delay-duration=0s",
            "--profiling=false", "--v=1"], self.base / "kube-apiserver.log")
        self.api = ApiClient("127.0.0.1", self.port, pki.ca.cert, admin.cert, admin.key)
        # An audit log of service accounts' requests only (not the admin's, not the
        # controllers' in kube-system): tests/k8s/test_helm.py compares the chart's RBAC with what the
        # operator, run as the chart's ServiceAccount, really asked for.
        self.audit_log = self.base / "audit.log"
        policy = self.base / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        apiserver.argv += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                           "--audit-log-format=json"]
        write_kubeconfig(self.kubeconfig, self.server, pki.ca.cert, admin, "kubetask-admin")
        self._run(apiserver, self._ready)

    def _ready(self) -> bool:
        try:
            return self.api.text("/readyz")[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def _run(self, process: ChildProcess, ready: Callable[[], bool]) -> None:
        self.processes.append(process)
        process.start()
        wait_until(process.name, ready, process)

    def kubeconfig_for(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig with its own client certificate (user = CN, groups = O)."""
        client = self.pki.client(name, user, groups)
        return write_kubeconfig(self.base / f"{name}.kubeconfig", self.server, self.pki.ca.cert,
                                client, user)

    def kubectl(self, *args: str, input: str | None = None,
                check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                                input=input, env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: "
                                 f"{result.stderr.strip()}")
        return result

    def install_crds(self, timeout: float = 60) -> None:
        """Apply crds/ and wait until the API server serves both resources (Established).

        Polled here rather than with `kubectl wait --for=condition=Established`, which fails
        at once with "accessor error" while a new CRD has no status.conditions yet."""
        self.kubectl("apply", "-f", str(ROOT / "crds"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_established(self.api.get(f"{CRD_PATH}/{name}")) for name in CRD_NAMES):
                return
            time.sleep(0.1)
        raise AssertionError(f"the CRDs {', '.join(CRD_NAMES)} not Established within "
                             f"{timeout:.0f} s")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CRD_NAMES = ("tasks.kubetask.io", "taskqueues.kubetask.io")


def _established(crd: Any) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Cluster:
    """kube-controller-manager and kube-scheduler on a ControlPlane, each with its own
    identity (system:kube-controller-manager, system:kube-scheduler: the bootstrap RBAC
    roles). No kubelet: a ProcessKubelet runs the Pods."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane
        self.processes: list[ChildProcess] = []
        self.started_in = 0.0

    def start(self) -> None:
        began = time.monotonic()
        try:
            self._start_controller_manager()
            self._start_scheduler()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def _serving(self, name: str) -> tuple[list[str], int]:
        port = free_port()
        cert_dir = self.control_plane.base / f"{name}-certs"
        return [f"--secure-port={port}", "--bind-address=127.0.0.1",
                f"--cert-dir={cert_dir}", "--leader-elect=false"], port

    def _start_controller_manager(self) -> None:
        cp = self.control_plane
        config = cp.kubeconfig_for("controller-manager", "system:kube-controller-manager")
        serving, port = self._serving("kube-controller-manager")
        process = ChildProcess("kube-controller-manager", [
            str(cp.tools / "kube-controller-manager"), f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}",
            *serving, f"--controllers={','.join(CONTROLLERS)}",
            # Each controller acts as its own service account (as in a real cluster), with
            # tokens the service-account-token controller signs with the API server's key.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={cp.pki.sa_key}",
            f"--root-ca-file={cp.pki.ca.cert}", "--v=1"], cp.base / "kube-controller-manager.log")
        self._run(process, port)

    def _start_scheduler(self) -> None:
        cp = self.control_plane
        config = cp.kubeconfig_for("scheduler", "system:kube-scheduler")
        serving, port = self._serving("kube-scheduler")
        process = ChildProcess("kube-scheduler", [
            str(cp.tools / "kube-scheduler"), f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}",
            *serving, "--v=1"], cp.base / "kube-scheduler.log")
        self._run(process, port)

    def _run(self, process: ChildProcess, port: int) -> None:
        self.processes.append(process)
        process.start()
        wait_until(process.name, lambda: _healthz(port), process)

    def delete_namespace(self, name: str, timeout: float = 90.0) -> None:
        """Delete a test's namespace and wait until the namespace controller removed it.

        With no operator running, Tasks and TaskQueues keep the operator's finalizer and
        would hold the namespace in Terminating forever: released here, as docs/OPERATOR.md
        tells users to (kubectl patch ... finalizers: null)."""
        cp = self.control_plane
        cp.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
        for kind in ("tasks", "taskqueues"):  # the commands of docs/OPERATOR.md
            found = cp.kubectl("get", kind, "-n", name, "-o", "name", check=False)
            for resource in found.stdout.split() if found.returncode == 0 else []:
                cp.kubectl("patch", "-n", name, "--type=merge", "-p",
                           '{"metadata":{"finalizers":null}}', resource, check=False)
        cp.kubectl("wait", "--for=delete", f"namespace/{name}", f"--timeout={timeout:.0f}s",
                   timeout=timeout + 30)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


def _healthz(port: int) -> bool:
    """The component's own /healthz (a self-signed certificate: not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
