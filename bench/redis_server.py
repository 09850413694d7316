"""Start and stop a private, non-persistent redis-server on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

REDIS_BINARY = "/usr/bin/redis-server"
HOST = "127.0.0.1"


class RedisServerError(RuntimeError):
    """redis-server is missing, failed to start, or did not answer in time."""


def find_binary() -> str:
    """Return the redis-server path, or raise with the install hint."""
    if os.access(REDIS_BINARY, os.X_OK):
        return REDIS_BINARY
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisServerError(
        f"redis-server not found at {REDIS_BINARY} or on PATH; "
        "install it with: apt-get update && apt-get install -y redis-server"
    )


def free_port() -> int:
    """Ask the kernel for a currently unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def ping(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if a RESP PING on host:port is answered with +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running redis-server child process that this harness owns."""

    host: str
    port: int
    pid: int
    workdir: Path
    _proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return self.db_url(0)

    def db_url(self, db: int) -> str:
        """redis:// URL of the given logical database."""
        return f"redis://{self.host}:{self.port}/{db}"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL) and remove its temp dir."""
        if self._proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._proc.wait(timeout=timeout_s)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _launch(binary: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """Spawn redis-server in the foreground with persistence off."""
    args = [
        binary,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        str(workdir / "redis.log"),
    ]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, cwd=workdir)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, deadline_s: float) -> bool:
    """Wait until the server answers PING; False if it exited or the deadline passed."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ping(HOST, port):
            return True
        time.sleep(0.05)
    return False


def start_redis(attempts: int = 5, ready_timeout_s: float = 10.0) -> RedisServer:
    """Start redis-server on a free port; retry if another process grabbed the port."""
    binary = find_binary()
    last_log = ""
    for _ in range(attempts):
        workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        port = free_port()
        proc = _launch(binary, port, workdir)
        if _wait_ready(proc, port, ready_timeout_s):
            return RedisServer(HOST, port, proc.pid, workdir, proc)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log = workdir / "redis.log"
        last_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
    raise RedisServerError(f"redis-server did not start after {attempts} attempts:\n{last_log}")


if __name__ == "__main__":
    with start_redis() as srv:
        print(f"redis-server pid={srv.pid} at {srv.url}; PING ok={ping(srv.host, srv.port)}")
