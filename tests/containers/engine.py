"""The container engine for tests/containers: podman (configured by hack/containers, through
CONTAINERS_CONF) or docker, and compose projects run with podman-compose or `docker compose`.
Every command has a timeout; a compose project is removed by its label, whatever is left."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
HACK = ROOT / "hack" / "containers"
STATE = Path(os.environ.get("KUBETASK_CONTAINERS_STATE", ROOT / ".kubetask-containers"))
BASE_LOCAL = "localhost/python-base:bookworm"
WORKER_IMAGE = "kubetask/worker:latest"
OPERATOR_IMAGE = "kubetask/operator:latest"
PROJECT_LABEL = "com.docker.compose.project"


class EngineError(Exception):
    """A container command failed; the message carries its output."""


def engine_env() -> dict[str, str]:
    """The environment for podman and podman-compose: our containers.conf, the tool venv."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(STATE / "containers.conf")
    env["PATH"] = f"{STATE / 'tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _docker_runs() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def find_engine() -> str:
    """`podman` when it is installed (hack/containers/setup.sh configures it), else `docker`
    when its daemon answers, else ""."""
    if shutil.which("podman"):
        return "podman"
    return "docker" if _docker_runs() else ""


def installable() -> bool:
    """Could `make test` install podman here (Debian, as root)?"""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def run(args: Sequence[str], *, timeout: float, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline; check=True raises EngineError with its output."""
    log.info("$ %s", " ".join(args))
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                              env=env or engine_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{' '.join(args)}: no answer in {timeout} s") from exc
    if check and done.returncode != 0:
        raise EngineError(f"{' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float,
             interval: float = 0.5) -> T:
    """Poll `probe` until it returns something other than None; bounded in time."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


class Compose:
    """One compose project of docker-compose.yml, under a unique name."""

    def __init__(self, engine: str, env: dict[str, str], prefix: str = "kt") -> None:
        self.engine = engine
        self.project = f"{prefix}{uuid.uuid4().hex[:8]}"
        self.env = {**engine_env(), **env}
        self.base = (["podman-compose"] if engine == "podman" else ["docker", "compose"])
        self.base += ["-p", self.project, "-f", str(ROOT / "docker-compose.yml")]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([*self.base, *args], timeout=timeout, env=self.env)

    def submit(self, *args: str) -> list[str]:
        """`run --rm client ARGS`; the task ids it printed."""
        out = self("run", "--rm", "client", *args).stdout
        return [line.strip() for line in out.splitlines() if len(line.strip()) == 24]

    def containers(self, service: str | None = None, *, running: bool = True) -> list[str]:
        """Names of the project's containers (of one service)."""
        args = [self.engine, "ps", "--format", "{{.Names}}",
                "--filter", f"label={PROJECT_LABEL}={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if not running:
            args.append("-a")
        return sorted(run(args, timeout=30).stdout.split())

    def volumes(self) -> list[str]:
        return run([self.engine, "volume", "ls", "-q", "--filter",
                    f"label={PROJECT_LABEL}={self.project}"], timeout=30).stdout.split()

    def networks(self) -> list[str]:
        return run([self.engine, "network", "ls", "-q", "--filter",
                    f"label={PROJECT_LABEL}={self.project}"], timeout=30).stdout.split()

    def etcd_address(self) -> str:
        etcd = self.containers("etcd")[0]
        ip = run([self.engine, "inspect", "--format",
                  "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", etcd],
                 timeout=30).stdout.split()[0]
        return f"{ip}:2379"

    def kubetask(self, *args: str, attempts: int = 6) -> Any:
        """`kubetask ARGS --json` inside the scheduler's container, to etcd's IP address:
        the test's own probes skip podman's DNS (aardvark-dns 1.4 stalls lookups for 10-40 s
        now and then while containers come and go; the services themselves use the name).
        Retried: etcd may not be serving yet."""
        container = self.containers("scheduler")[0]
        where = ["--etcd-endpoints", self.etcd_address()]
        error = ""
        for attempt in range(attempts):
            try:
                done = run([self.engine, "exec", container, "kubetask", *args, *where, "--json"],
                           timeout=20, check=False)
            except EngineError as exc:
                error = str(exc)
            else:
                if done.returncode == 0:
                    return json.loads(done.stdout)
                error = done.stderr.strip()
            log.info("attempt %d: %s", attempt + 1, error)
            time.sleep(1)
        raise EngineError(f"kubetask {' '.join(args)} failed {attempts} times: {error}")

    def tasks(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = set(ids)
        listed = self.kubetask("task", "list", "--limit", "10000")
        return {t["id"]: t for t in listed if t["id"] in wanted}

    def wait_finished(self, ids: Sequence[str], timeout: float) -> dict[str, dict[str, Any]]:
        def finished() -> dict[str, dict[str, Any]] | None:
            tasks = self.tasks(ids)
            done = len(tasks) == len(ids) and all(
                t["state"] in ("succeeded", "dead", "cancelled") for t in tasks.values())
            return tasks if done else None
        return wait_for(f"{len(ids)} tasks finished", finished, timeout=timeout)

    def cleanup(self) -> None:
        """`down -v`, then remove by label whatever it left (podman-compose leaves the extra
        replicas of a command-line --scale, and with them the network and volume)."""
        try:
            self("down", "-v", timeout=180)
        except EngineError as exc:
            log.warning("down -v: %s", exc)
        label = f"label={PROJECT_LABEL}={self.project}"
        left = run([self.engine, "ps", "-aq", "--filter", label], timeout=30, check=False).stdout.split()
        if left:
            run([self.engine, "rm", "-f", "-t", "2", *left], timeout=120, check=False)
        for kind in ("volume", "network"):
            names = run([self.engine, kind, "ls", "-q", "--filter", label], timeout=30,
                        check=False).stdout.split()
            if names:
                run([self.engine, kind, "rm", "-f", *names], timeout=60, check=False)
        if self.engine == "podman":  # podman-compose's (empty) pod has no project label
            run(["podman", "pod", "rm", "-f", "--ignore", f"pod_{self.project}"], timeout=60,
                check=False)

    def pods(self) -> list[str]:
        if self.engine != "podman":
            return []
        return run(["podman", "pod", "ls", "-q", "--filter", f"name=^pod_{self.project}$"],
                   timeout=30).stdout.split()
