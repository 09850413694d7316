"""Start worker processes with subprocess and stop them (and their children) by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerDied(RuntimeError):
    """A benchmark worker process exited while it was needed."""


def _tail(path: Path, n_chars: int = 3000) -> str:
    """Last characters of a log file, or a note that it is empty."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n_chars:] or "(empty log)"


def _signal_group(pid: int, sig: int) -> None:
    """Send sig to the process group led by our child pid (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


@dataclass
class WorkerGroup:
    """Worker processes started by this harness, each leading its own process group."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    @property
    def pids(self) -> list[int]:
        """PIDs of the worker processes this group started."""
        return [p.pid for p in self.procs]

    def check_alive(self) -> None:
        """Raise WorkerDied, with the log tail, if any worker has exited."""
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise WorkerDied(
                    f"worker pid {proc.pid} exited with {proc.returncode}; log {log}:\n{_tail(log)}"
                )

    def log_tails(self) -> str:
        """Tails of all worker logs, for error reports."""
        return "\n".join(f"--- {log}\n{_tail(log)}" for log in self.logs)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM each worker by PID (it stops its own children), wait, SIGKILL leftovers."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def start_workers(
    commands: Sequence[Sequence[str]], env: Mapping[str, str], log_dir: Path
) -> WorkerGroup:
    """Start one process per command, in the repo root, with PYTHONPATH and env added."""
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    for i, cmd in enumerate(commands):
        log = log_dir / f"worker-{i}.log"
        with log.open("wb") as fh:
            procs.append(
                subprocess.Popen(
                    list(cmd),
                    cwd=REPO_ROOT,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        logs.append(log)
    return WorkerGroup(procs, logs)
