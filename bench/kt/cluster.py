"""A fresh etcd (fsync on) plus kubetask scheduler and worker processes, all stopped by PID."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from bench.peers.procs import REPO_ROOT, WorkerGroup
from kubetask.etcd_process import EtcdProcess, find_etcd, free_port

NAMESPACE = "bench"
QUEUE = "bench"
LOG_LEVEL = "warn"
MIB = 1024 * 1024
# Worker options the harness sets itself (--max-concurrent has its own bench option).
HARNESS_WORKER_OPTIONS = ("--etcd-endpoints", "--namespace", "--queue", "--node-id",
                          "--log-level", "--max-concurrent")


def split_worker_args(text: str, what: str) -> tuple[str, ...]:
    """Extra `kubetask worker` arguments from one shell-quoted string; SystemExit with what to
    fix when it does not parse or sets an option the harness sets itself."""
    try:
        args = tuple(shlex.split(text))
    except ValueError as exc:
        raise SystemExit(f"{what} {text!r}: {exc}; quote it as one shell string, e.g. "
                         f"{what} \"--prefetch 4\"") from None
    taken = sorted({a.split("=", 1)[0] for a in args} & set(HARNESS_WORKER_OPTIONS))
    if taken:
        raise SystemExit(f"{what} {text!r}: {', '.join(taken)} is set by the harness "
                         "(the slots per worker have their own option); remove it")
    return args


def check_worker_args(args: Sequence[str], src: Path, what: str) -> None:
    """SystemExit naming the options of args that `kubetask worker` (imported from src) lacks."""
    if not args:
        return
    out = subprocess.run([sys.executable, "-m", "kubetask", "worker", "--help"], cwd=REPO_ROOT,
                         env={**clean_env(), "PYTHONPATH": str(src)}, capture_output=True,
                         text=True, timeout=60)
    if out.returncode:
        raise SystemExit(f"`kubetask worker --help` from {src} failed:\n{out.stderr[-2000:]}")
    missing = [a.split("=", 1)[0] for a in args if a.startswith("-") and not re.search(
        rf"(?<![\w-]){re.escape(a.split('=', 1)[0])}(?![\w-])", out.stdout)]
    if missing:
        raise SystemExit(f"{what}: `kubetask worker` from {src} has no option "
                         f"{', '.join(missing)}; see `python -m kubetask worker --help`")


def etcd_info() -> dict[str, Any]:
    """The etcd binary, its version, and the flags every benchmark etcd runs with."""
    binary = find_etcd()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    probe = EtcdProcess(Path("<data-dir>"), 0, 0)
    flags = [f.replace(":0", ":<free-port>") for f in probe.command()[1:]]
    return {
        "binary": binary,
        "version": out.stdout.splitlines()[0].strip() if out.stdout else "unknown",
        "flags": flags,
        "settings": "etcd defaults: fsync on every WAL commit (no --unsafe-no-fsync), "
        "snapshot-count 100000, quota-backend-bytes 2 GiB, max-txn-ops 128",
        "data_dir_filesystem": filesystem_of(Path(tempfile.gettempdir())),
    }


def filesystem_of(path: Path) -> str:
    """'fstype on device' of the mount holding path (fsync cost depends on it)."""
    best: Any = None
    resolved = str(path.resolve())
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") + "/"
        if (resolved + "/").startswith(mount) and (best is None or len(mount) > len(best[0])):
            best = (mount, part)
    return f"{best[1].fstype} on {best[1].device}" if best else "unknown"


def kubetask_command(role: str, endpoint: str, node_id: str, extra: Sequence[str] = ()) -> list[str]:
    """`python -m kubetask <role>` with the benchmark's namespace, queue and log level."""
    return [
        sys.executable, "-m", "kubetask", role, "--etcd-endpoints", endpoint,
        "--namespace", NAMESPACE, "--queue", QUEUE, "--node-id", node_id,
        "--log-level", LOG_LEVEL, *extra,
    ]


def clean_env() -> dict[str, str]:
    """The current environment without KUBETASK_* settings (flags say everything)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KUBETASK_")}


def spawn(commands: Sequence[Sequence[str]], log_dir: Path, names: Sequence[str]) -> WorkerGroup:
    """Start each command in its own session, output to log_dir/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    for cmd, name in zip(commands, names, strict=True):
        log = log_dir / f"{name}.log"
        with log.open("wb") as fh:
            procs.append(subprocess.Popen(
                list(cmd), cwd=REPO_ROOT, env=clean_env(), stdin=subprocess.DEVNULL,
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True))
        logs.append(log)
    return WorkerGroup(procs, logs)


class Cluster:
    """One fresh etcd in a temp dir, plus the kubetask processes started on it."""

    def __init__(self, label: str, wrap: Sequence[str] = ()) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-kt-{label}-"))
        self.etcd = EtcdProcess(self.workdir / "etcd", free_port(), free_port(),
                                log_path=self.workdir / "etcd.log")
        self.wrap = list(wrap)  # e.g. a profiler prefix for the python commands
        self.scheduler: WorkerGroup | None = None
        self.workers: WorkerGroup | None = None
        self.keep = False

    @property
    def endpoint(self) -> str:
        """host:port of the etcd client URL."""
        return self.etcd.endpoint

    def start_etcd(self) -> None:
        """Start etcd and wait until it reports healthy."""
        self.etcd.start(timeout=30)

    def _cmd(self, role: str, node_id: str, extra: Sequence[str] = ()) -> list[str]:
        """Command for one kubetask process, with the optional wrapper spliced in."""
        cmd = kubetask_command(role, self.endpoint, node_id, extra)
        if not self.wrap:
            return cmd
        return [cmd[0], *[w.format(name=node_id, dir=self.workdir) for w in self.wrap], *cmd[1:]]

    def start_scheduler(self) -> None:
        """Start one scheduler process for the benchmark queue."""
        self.scheduler = spawn([self._cmd("scheduler", "sched-0")], self.workdir, ["sched-0"])

    def start_workers(self, count: int, max_concurrent: int, extra: Sequence[str] = ()) -> None:
        """Start count worker processes with --max-concurrent max_concurrent each (and extra)."""
        names = [f"worker-{i}" for i in range(count)]
        cmds = [self._cmd("worker", n, ["--max-concurrent", str(max_concurrent), *extra])
                for n in names]
        self.workers = spawn(cmds, self.workdir, names)

    def check_alive(self) -> None:
        """Raise WorkerDied with the log tail if etcd or a kubetask process exited."""
        proc = self.etcd.process
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"etcd exited; log {self.workdir / 'etcd.log'}")
        for group in (self.scheduler, self.workers):
            if group is not None:
                group.check_alive()

    def pids(self) -> dict[str, int]:
        """PIDs by role name: etcd, sched-0, worker-N."""
        out: dict[str, int] = {}
        if self.etcd.process is not None:
            out["etcd"] = self.etcd.process.pid
        for group in (self.scheduler, self.workers):
            if group is not None:
                out |= {log.stem: pid for log, pid in zip(group.logs, group.pids, strict=True)}
        return out

    def rss_mib(self) -> dict[str, float]:
        """Resident set size of every process, in MiB."""
        return {name: psutil.Process(pid).memory_info().rss / MIB for name, pid in self.pids().items()}

    def stop_workers(self) -> None:
        """SIGTERM the workers by PID and wait (they drain, then exit)."""
        if self.workers is not None:
            self.workers.stop()
            self.workers = None

    def stop(self) -> None:
        """Stop workers, scheduler and etcd by PID; remove the temp dir unless kept."""
        self.stop_workers()
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.etcd.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tails(self) -> str:
        """Tails of the kubetask process logs, for error reports."""
        return "\n".join(g.log_tails() for g in (self.scheduler, self.workers) if g is not None)

    def __enter__(self) -> Cluster:
        self.start_etcd()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.keep = True
            print(f"kubetask bench: logs kept in {self.workdir}\n{self.log_tails()}",
                  file=sys.stderr)
        self.stop()
