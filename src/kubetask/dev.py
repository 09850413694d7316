"""`kubetask dev`: a whole local system in the foreground on an embedded etcd.

etcd (a child process) + one scheduler + N workers + the dashboard, each its own process,
as in production, and each tethered to this one: they stop when it dies, however it dies.
A demo mix of tasks on a fresh data dir; a live line of progress; Ctrl-C stops every child
cleanly (running tasks get a bounded time to finish).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import KubetaskError, StoreError
from kubetask.etcd_process import EtcdProcess, free_port, port_in_use
from kubetask.tether import tethered
from kubetask.wakeup import wait_until_set

# What `kubetask dev` writes in its data dir (kubetask-dev.log: etcd's log before 0.1.1).
_DATA_ENTRIES = frozenset({"etcd", "logs", "kubetask-dev.log"})
_TAIL_LINES = 10


DEFAULT_DATA_DIR = Path(".kubetask-dev")  # `make clean-dev` removes this one


@dataclass(frozen=True, slots=True)
class DevSettings:
    data_dir: Path = DEFAULT_DATA_DIR
    etcd_port: int = 2379
    workers: int = 3
    max_concurrent: int = 10
    strategy: str = "round_robin"
    demo: bool = True
    dashboard_port: int | None = 8080
    log_level: str = "info"
    namespace: str = "default"
    shutdown_timeout: float = 10.0  # running tasks may finish this long when dev stops
    fresh: bool = False  # throw away the data of earlier runs first


@dataclass(frozen=True, slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def demo_specs() -> list[TaskSpec]:
    """A small mix that shows priorities, retries, a custom payload and a failure."""
    specs = [TaskSpec("echo", {"duration": 0.5, "demo": i}, name=f"demo-echo-{i}",
                      priority=i % 4) for i in range(12)]
    specs += [TaskSpec("compute", {"duration": 0.5}, name=f"demo-compute-{i}", priority=2)
              for i in range(4)]
    specs += [TaskSpec("unreliable", name=f"demo-unreliable-{i}", priority=1) for i in range(3)]
    specs.append(TaskSpec("echo", {"duration": 0.2}, name="demo-urgent", priority=3))
    specs.append(TaskSpec("does-not-exist", name="demo-unknown-type", max_retries=0))
    return specs


def _print(line: str) -> None:
    print(line, flush=True)  # flushed: a pipe (`kubetask dev | tee`) sees each line at once


class DevSystem:
    def __init__(self, settings: DevSettings, out: Callable[[str], None] = _print) -> None:
        self.settings = settings
        self.out = out
        self.data_dir = settings.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.etcd = EtcdProcess(self.data_dir / "etcd", settings.etcd_port, free_port(),
                                name="kubetask-dev", log_path=self.logs / "etcd.log",
                                tether=True)
        self.children: list[_Child] = []
        self.fresh = True  # no data of an earlier run
        self.output_lost = False  # stdout closed (`kubetask dev | head`, a closed terminal)
        self.exited_early: list[_Child] = []
        self.running = 0  # running tasks at the last progress line

    @property
    def endpoint(self) -> str:
        return self.etcd.endpoint

    def say(self, line: str) -> None:
        """Print a line; once stdout is gone, stay silent (the caller then stops)."""
        if self.output_lost:
            return
        try:
            self.out(line)
        except OSError:  # BrokenPipeError, or EIO from a terminal that was closed
            self.output_lost = True
            _silence_stdout()

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kubetask", *args], stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=tethered())
        self.children.append(_Child(name, process, log_path))

    def start(self) -> None:
        s = self.settings
        check_ports(s)
        if s.fresh:
            wipe_data_dir(self.data_dir)
        self.fresh = not (self.data_dir / "etcd" / "member").exists()
        self.logs.mkdir(parents=True, exist_ok=True)
        self._say_data_dir()
        self.etcd.start()
        if self.etcd.process is not None:
            self.children.append(_Child("etcd", self.etcd.process, self.logs / "etcd.log"))
            self.say(f"  etcd          {self.endpoint}  (pid {self.etcd.process.pid})")
        self._start_components()
        self.say(f"  logs          {self.logs}/")
        cmd = _command()
        self.say(f"Try, in another shell:  {cmd} client --queue=default "
                 "--type=echo --name=test-task --priority=1 --count=10")
        self.say(f"                        {cmd} stats")
        self.say("Ctrl-C stops everything.")

    def _say_data_dir(self) -> None:
        if self.settings.data_dir == DEFAULT_DATA_DIR:
            again = f"to start over: `{_command()} dev --fresh` or `make clean-dev`"
        else:  # the same folder again: --fresh alone would start over in the default one
            again = (f"to start over: `{_command()} dev --data-dir "
                     f"{shlex.quote(str(self.settings.data_dir))} --fresh`")
        if self.fresh:
            self.say(f"kubetask dev: data and logs in {self.data_dir}; they are kept across "
                     f"runs ({again})")
        else:
            self.say(f"kubetask dev: data and logs in {self.data_dir}, kept from an earlier "
                     f"run: its tasks are still there and the demo is not submitted again "
                     f"({again})")

    def _start_components(self) -> None:
        s = self.settings
        common = ["--etcd-endpoints", self.endpoint, "--namespace", s.namespace,
                  "--log-level", s.log_level]
        ports = [free_port() for _ in range(s.workers + 1)]

        def metrics(index: int) -> list[str]:
            return ["--metrics-port", str(ports[index]), "--metrics-host", "127.0.0.1"]

        self._spawn("scheduler-1", ["scheduler", "--node-id", "scheduler-1",
                                    "--strategy", s.strategy, *common, *metrics(0)])
        for i in range(1, s.workers + 1):
            self._spawn(f"worker-{i}", [
                "worker", "--node-id", f"worker-{i}", "--max-concurrent", str(s.max_concurrent),
                "--shutdown-timeout", str(s.shutdown_timeout), *common, *metrics(i)])
        self.say(f"  scheduler     scheduler-1 (strategy {s.strategy})")
        if s.workers:
            self.say(f"  workers       {', '.join(f'worker-{i}' for i in range(1, s.workers + 1))}"
                     f" ({s.max_concurrent} slots each)")
        else:
            self.say("  workers       none (--workers 0): tasks wait until a worker joins")
        names = ["scheduler-1", *(f"worker-{i}" for i in range(1, s.workers + 1))]
        for name, port in zip(names, ports, strict=True):
            label = "metrics" if name == names[0] else ""
            self.say(f"  {label:<13} {name} http://127.0.0.1:{port}/metrics")
        if s.dashboard_port is not None:
            self._spawn("dashboard", ["dashboard", "--port", str(s.dashboard_port),
                                      "--allow-writes", *common])
            self.say(f"  dashboard     http://127.0.0.1:{s.dashboard_port}/")

    def stopping_message(self) -> str:
        tasks = f"their {self.running} running tasks" if self.running else "running tasks"
        return (f"kubetask dev: stopping: workers finish {tasks} for at most "
                f"{self.settings.shutdown_timeout:g}s, then hand the rest back to the queue; "
                "Ctrl-C again stops at once")

    def stop(self) -> None:
        """Workers, scheduler and dashboard first (gracefully), then etcd."""
        try:
            self._stop(self.settings.shutdown_timeout + 5)
        except KeyboardInterrupt:
            self.say("kubetask dev: stopping at once")
            for child in self.children:
                if child.process.poll() is None:
                    child.process.kill()
            self.etcd.kill()
        self.children.clear()

    def _stop(self, grace: float) -> None:
        components = [c for c in self.children if c.name != "etcd"]
        for child in components:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in components:
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"  {child.name} did not stop in time; killing it")
                child.process.kill()
                child.process.wait(5)
        self.etcd.stop()

    def check_children(self) -> bool:
        """Report every child that exited (which, its exit code, its log's last lines);
        True if none did."""
        self.exited_early = [c for c in self.children if c.process.poll() is not None]
        for child in self.exited_early:
            self.say(f"kubetask dev: {child.name} exited early "
                     f"({_describe_exit(child.process.returncode)}); the last lines of "
                     f"{child.log}:")
            for line in _tail(child.log, _TAIL_LINES):
                self.say(f"  | {line}")
        return not self.exited_early

    async def watch(self, stop: asyncio.Event) -> None:
        """Submit the demo (on a fresh data dir), then print a progress line whenever the
        counts change; return on `stop`, when a child exits, or when stdout is gone."""
        async with AsyncClient(self.endpoint, namespace=self.settings.namespace) as client:
            if self.settings.demo and self.fresh:
                tasks = await client.submit_many(demo_specs())
                self.say(f"Submitted {len(tasks)} demo tasks (echo, compute, unreliable, "
                         "and one of an unknown type that goes dead)")
            last = ""
            while not stop.is_set() and not self.output_lost:
                line = await self._progress(client)
                if line != last:
                    self.say(f"{time.strftime('%H:%M:%S')}  {line}")
                    last = line
                if not self.check_children():
                    return
                await wait_until_set(stop, 1.0)

    async def _progress(self, client: AsyncClient) -> str:
        try:
            stats = await client.stats()
        except StoreError as exc:
            return f"etcd unreachable: {exc}"
        if not stats:
            return "no tasks yet"
        parts = []
        self.running = 0
        for q in stats:
            d = q.to_dict()
            self.running += d["running"]
            draining = sum(w["state"] == "draining" for w in d["worker_stats"])
            parts.append(f"[{d['queue']}] pending {d['pending']} running {d['running']} "
                         f"succeeded {d['succeeded']} retrying {d['retrying']} dead "
                         f"{d['dead']} cancelled {d['cancelled']} (failed attempts "
                         f"{d['failed_attempts']}) workers {d['workers']}"
                         + (f" ({draining} draining)" if draining else ""))
        return " | ".join(parts)


def check_ports(settings: DevSettings) -> None:
    """Refuse to start, with what to do, when a port this system listens on is taken."""
    flags = {settings.etcd_port: ("etcd", "--etcd-port")}
    if settings.dashboard_port is not None:
        if settings.dashboard_port == settings.etcd_port:
            raise KubetaskError(f"--etcd-port and --dashboard-port are both "
                                f"{settings.etcd_port}: give them different ports")
        flags[settings.dashboard_port] = ("dashboard", "--dashboard-port")
    taken = [port for port in flags if port_in_use(port)]
    if taken:
        raise KubetaskError("; ".join(
            f"port {port} on 127.0.0.1 is already in use (wanted by the {flags[port][0]})"
            for port in taken) + ". Another `kubetask dev` may be running, or a process an "
            "older one left behind (`ss -ltnp 'sport = :" + str(taken[0]) + "'` shows which): "
            "stop it, or pass " + " and ".join(f"{flags[port][1]} N" for port in taken))


def wipe_data_dir(path: Path) -> None:
    """Remove a `kubetask dev` data dir; refuse a folder holding anything else."""
    if not path.exists():
        return
    if not path.is_dir():
        raise KubetaskError(f"--data-dir {path} is not a directory")
    others = sorted(entry.name for entry in path.iterdir() if entry.name not in _DATA_ENTRIES)
    if others:
        raise KubetaskError(
            f"--fresh: {path} holds files kubetask dev did not write ({', '.join(others[:5])}); "
            "it is left as it is: remove it yourself, or pick another --data-dir")
    shutil.rmtree(path)


def _command() -> str:
    """How the user started kubetask, for the hints we print."""
    script = sys.argv[0] if sys.argv else ""
    if Path(script).name == "kubetask":
        on_path = shutil.which("kubetask")
        same = on_path is not None and Path(on_path).resolve() == Path(script).resolve()
        return "kubetask" if same else script
    return f"{sys.executable} -m kubetask"


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 64 * 1024, 0))
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return [f"(cannot read it: {exc})"]
    return text.rstrip("\n").splitlines()[-lines:] or ["(empty)"]


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that later prints and the flush at exit do not fail."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _notice(line: str) -> None:
    """A line on stderr, if stderr is still there."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def run_dev(settings: DevSettings) -> int:
    """Run until Ctrl-C / SIGTERM / SIGHUP, a child's exit, or a closed stdout; stop all.
    Exit code 1 when a child exited on its own."""
    system = DevSystem(settings)
    try:
        system.start()
    except BaseException:
        system.stop()
        raise

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await system.watch(stop)

    try:
        asyncio.run(main())
    finally:
        if system.output_lost:
            _notice("kubetask dev: its output was closed; stopping every child")
        system.say(system.stopping_message())
        system.stop()
        system.say("kubetask dev: stopped.")
    return 1 if system.exited_early else 0
