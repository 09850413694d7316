"""Fixtures of the e2e tier: a real cluster (KUBETASK_E2E_KUBECONFIG, else the local one of
hack/cluster brought up once per session and down at its end) with kubetask deployed from
the project's own images.

Without a cluster and without a way to start one (not root, no containerd) every test here
skips with one line; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.deploy import Deployment, deploy_kubetask, undeploy_kubetask
from tests.e2e.kube import CLUSTER_STATE, ROOT, Kube, local_cluster, local_cluster_unavailable, run

SETUP_TIMEOUT = 600  # the first test pays for images, cluster up and the deploy
TEST_TIMEOUT = 240
IMAGES_TIMEOUT = 420


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (fail under CI=true) when there is no cluster to use and none can start here.
    Raised here, not in a fixture, so that pytest -ra folds the skips into one line."""
    if not str(item.path).startswith(os.path.dirname(__file__)):
        return
    if os.environ.get("KUBETASK_E2E_KUBECONFIG"):
        return
    reason = local_cluster_unavailable()
    if not reason:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """The cluster: KUBETASK_E2E_KUBECONFIG as it is, else the local one (the images built
    from this checkout first, as tests/containers does)."""
    cache = tmp_path_factory.mktemp("kube-cache")
    given = os.environ.get("KUBETASK_E2E_KUBECONFIG")
    if given:
        # hack/cluster's own KUBECONFIG given: its containerd is on this machine.
        yield Kube(Path(given), cache, local=Path(given).resolve().is_relative_to(CLUSTER_STATE))
        return
    containers = ROOT / "hack" / "containers"
    run([str(containers / "setup.sh"), "--no-install"], timeout=IMAGES_TIMEOUT)
    run([str(containers / "images.sh")], timeout=IMAGES_TIMEOUT)
    with local_cluster() as kubeconfig:
        yield Kube(kubeconfig, cache, local=True)


@pytest.fixture(scope="session")
def kubetask(kube: Kube) -> Iterator[Deployment]:
    """kubetask deployed in a namespace of its own for the session."""
    namespace = f"kubetask-e2e-{uuid.uuid4().hex[:6]}"
    try:
        yield deploy_kubetask(kube, namespace)
    finally:
        undeploy_kubetask(kube, namespace)
