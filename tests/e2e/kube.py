"""kubectl against the e2e cluster, and the local cluster of hack/cluster brought up and down.

Every command has a timeout and every wait is bounded in time; a failed command raises with
its output."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "hack" / "cluster"
KUBE_TOOLS = Path(os.environ.get("KUBETASK_KUBE_TOOLS", ROOT / "hack" / "bin"))
CLUSTER_STATE = Path(os.environ.get("KUBETASK_CLUSTER_STATE", "/var/tmp/kubetask-cluster"))
UP_TIMEOUT = 300  # a cold up imports four images (~45 s); warm ~5 s
DOWN_TIMEOUT = 120


class KubeError(Exception):
    """A kubectl or cluster command failed; the message carries its output."""


def run(args: list[str], *, timeout: float, env: dict[str, str] | None = None,
        input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                            input=input, check=False)
    if check and result.returncode != 0:
        raise KubeError(f"{' '.join(args)} failed ({result.returncode}): "
                        f"{result.stderr.strip()[-2000:]} {result.stdout.strip()[-1000:]}")
    return result


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float,
             interval: float = 1.0) -> T:
    """Call `probe` until it returns something other than None/False; at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last is not None and last is not False:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


class Kube:
    """kubectl with one KUBECONFIG (and its cache in `cache_dir`, not ~/.kube)."""

    def __init__(self, kubeconfig: Path, cache_dir: Path, *, local: bool = False) -> None:
        self.kubeconfig = kubeconfig
        self.local = local  # the cluster of hack/cluster: its node's containerd is here
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(cache_dir),
                    **{f"HELM_{kind}_HOME": str(cache_dir / f"helm-{kind.lower()}")
                       for kind in ("CACHE", "CONFIG", "DATA")}}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> str:
        return run(["kubectl", *args], env=self.env, input=input, check=check,
                   timeout=timeout).stdout

    def helm(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """hack/bin/helm (make kube-tools) with this KUBECONFIG; its state beside kubectl's cache."""
        return run([str(KUBE_TOOLS / "helm"), *args], env=self.env, check=check,
                   timeout=timeout).stdout

    def apply(self, *objects: dict[str, Any], namespace: str) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))

    def get(self, kind: str, namespace: str, *names: str, selector: str = "") -> dict[str, Any]:
        args = ["get", kind, *names, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        document: dict[str, Any] = json.loads(self.kubectl(*args))
        return document

    def items(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(kind, namespace, selector=selector)["items"]
        return items


def crictl(*args: str) -> str:
    """crictl against the local cluster's containerd (hack/cluster)."""
    env = {**os.environ, "CONTAINER_RUNTIME_ENDPOINT":
           f"unix://{CLUSTER_STATE / 'containerd' / 'containerd.sock'}"}
    return run([str(KUBE_TOOLS / "crictl"), *args], env=env, timeout=60).stdout


def local_cluster_unavailable() -> str:
    """Why hack/cluster/up cannot run here ("" when it can)."""
    if os.geteuid() != 0:
        return "not root: the local cluster (hack/cluster/up) needs root; or set KUBETASK_E2E_KUBECONFIG"
    missing = [tool for tool in ("containerd", "runc", "kubectl", "podman", "nft")
               if not shutil.which(tool)]
    missing += [name for name in ("kubelet", "kube-proxy", "kube-apiserver", "crictl", "etcd", "helm")
                if not (KUBE_TOOLS / name).exists()]
    if missing:
        return (f"no {', '.join(missing)}: run `make e2e` (kube-tools, container-setup, images, "
                "cluster-deps) or set KUBETASK_E2E_KUBECONFIG")
    return ""


@contextmanager
def local_cluster() -> Iterator[Path]:
    """hack/cluster/up, yielding its admin KUBECONFIG; hack/cluster/down afterwards, whatever
    happened (up runs down itself when it fails)."""
    started = time.monotonic()
    try:
        result = run([str(CLUSTER / "up")], timeout=UP_TIMEOUT)
        log.info("hack/cluster/up: %.1f s", time.monotonic() - started)
        yield Path(result.stdout.strip().splitlines()[-1])
    finally:
        started = time.monotonic()
        run([str(CLUSTER / "down")], timeout=DOWN_TIMEOUT, check=False)
        log.info("hack/cluster/down: %.1f s", time.monotonic() - started)
