"""Fixtures of the containers tier: the images built once per session (hack/containers:
podman set up, the local base and etcd images, then `images.sh`), and a compose project of
docker-compose.yml per test module, removed by its label even when a test fails.

Without podman (and without a docker daemon) every test here skips with one line; under
CI=true on a machine where podman can be installed (`make test` installs it) that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kubetask.etcd_process import free_port
from tests.containers.engine import HACK, STATE, Compose, find_engine, installable, run

SETUP_TIMEOUT = 420  # a cold set-up: apt-get, debootstrap (~75 s) and both image builds (~60 s)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.containers)
            item.add_marker(pytest.mark.slow)
            # the first test pays for the session's set-up and image builds
            item.add_marker(pytest.mark.timeout(SETUP_TIMEOUT))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (fail under CI=true where podman can be installed) without a container engine.
    Raised here, not in a fixture, so that pytest -ra folds the skips into one line."""
    if "engine" not in getattr(item, "fixturenames", ()) or find_engine():
        return
    reason = ("no container engine: install podman (`make container-setup`, Debian as root) "
              "or start a docker daemon")
    if os.environ.get("CI") == "true" and installable():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[str]:
    """podman (set up by hack/containers/setup.sh, which is quick when done) or docker; the
    kubetask images built (layers cached between sessions)."""
    name = find_engine()
    if name == "podman":
        run([str(HACK / "setup.sh"), "--no-install"], timeout=SETUP_TIMEOUT)
    run([str(HACK / "images.sh")], timeout=SETUP_TIMEOUT, env=None)
    yield name


def etcd_image(engine: str) -> str:
    """The local etcd image setup.sh made (no registry here), else the compose default."""
    made = STATE / "etcd-image"
    if engine == "podman" and made.exists():
        return made.read_text().strip()
    return ""


@pytest.fixture
def compose(engine: str) -> Iterator[Compose]:
    """A fresh compose project (local etcd image, the dashboard on a free port), removed with
    everything it made when the test ends, passed or not."""
    env = {"DASHBOARD_PORT": str(free_port()), "KUBETASK_IMAGE": "kubetask/worker:latest"}
    if image := etcd_image(engine):
        env["ETCD_IMAGE"] = image
    project = Compose(engine, env)
    try:
        yield project
    finally:
        project.cleanup()
