"""Fixtures of the Kubernetes tier: `control_plane` (etcd + kube-apiserver), `cluster` (plus
kube-controller-manager and kube-scheduler) and `process_kubelet` (a test double that runs
Pods as local processes), each started once per session on free 127.0.0.1 ports.

Without the binaries of hack/kube-tools every test here skips with one line; under CI=true
that is a failure instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence

import pytest

from tests.k8s.cluster import (
    CLUSTER_TOOLS,
    CONTROL_PLANE_TOOLS,
    TOOLS_ENV,
    Cluster,
    ControlPlane,
    missing_tools,
    tools_dir,
)
from tests.k8s.process_kubelet import KUBETASK_IMAGES, ProcessKubelet

log = logging.getLogger(__name__)

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.k8s)
    # test_helm.py last: it starts the session's process kubelet, and test_operator.py's
    # early tests count on no kubelet running yet (their tasks run on worker processes).
    items.sort(key=lambda item: item.path.name == "test_helm.py")


def unavailable(names: Sequence[str]) -> str:
    """Why the tests here cannot run (a missing binary, no kubectl), or ""."""
    missing = missing_tools(names)
    if missing:
        how = ("run `make kube-tools` (builds them with Go)" if shutil.which("go")
               else "install Go >= 1.24 and run `make kube-tools`")
        return (f"Kubernetes binaries missing in {tools_dir()} ({', '.join(missing)}): "
                f"{how}, or set {TOOLS_ENV}")
    if not shutil.which("kubectl"):
        return "kubectl is not on PATH: install it (Debian: apt-get install kubectl)"
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (fail under CI=true) when a binary the test needs is missing. Raised here, not
    in a fixture, so that pytest -ra folds the skips into one line per reason."""
    fixtures = set(getattr(item, "fixturenames", ()))
    needs = CLUSTER_TOOLS if fixtures & {"cluster", "process_kubelet"} else CONTROL_PLANE_TOOLS
    if unavailable(needs):
        reason = unavailable(CLUSTER_TOOLS)  # the same words for every test: one line
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with an admin kubeconfig (`.kubeconfig`, `.server`, `.env`,
    `.kubectl(...)`, `.api`)."""
    plane = ControlPlane(tmp_path_factory.mktemp("k8s"))
    plane.start()
    log.info("control plane ready in %.1f s at %s", plane.started_in, plane.server)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def cluster(control_plane: ControlPlane) -> Iterator[Cluster]:
    """The control plane plus kube-controller-manager and kube-scheduler."""
    running = Cluster(control_plane)
    running.start()
    log.info("controller-manager and scheduler ready in %.1f s", running.started_in)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def process_kubelet(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessKubelet]:
    """A Node named `process-node` whose Pods run as local processes; the project's image
    (KUBETASK_IMAGES) runs this checkout's `kubetask`."""
    began = time.monotonic()
    kubelet = ProcessKubelet(cluster.control_plane.api, "process-node",
                             tmp_path_factory.mktemp("kubelet"),
                             image_map={image: [sys.executable, "-m", "kubetask"]
                                        for image in KUBETASK_IMAGES},
                             heartbeat_seconds=2.0)
    kubelet.start()
    try:
        kubelet.wait_schedulable()
        log.info("process kubelet's node registered in %.1f s, schedulable in %.1f s",
                 kubelet.started_in, time.monotonic() - began)
        yield kubelet
    finally:
        kubelet.stop()
