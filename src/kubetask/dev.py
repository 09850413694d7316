"""`kubetask dev`: a whole local system in the foreground on an embedded etcd.

etcd (a child process) + one scheduler + N workers (+ the dashboard when the web extra is
installed), each its own process, as in production; a demo mix of tasks; a live line of
progress; Ctrl-C stops every child cleanly.
"""

from __future__ import annotations

import asyncio
import importlib.util
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
from kubetask.wakeup import wait_until_set


@dataclass(frozen=True, slots=True)
class DevSettings:
    data_dir: Path = Path(".kubetask-dev")
    etcd_port: int = 2379
    workers: int = 3
    max_concurrent: int = 10
    strategy: str = "round_robin"
    demo: bool = True
    dashboard_port: int | None = 8080
    log_level: str = "info"
    namespace: str = "default"


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


class DevSystem:
    def __init__(self, settings: DevSettings, out: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.out = out
        self.etcd = EtcdProcess(settings.data_dir.resolve() / "etcd", settings.etcd_port,
                                free_port(), name="kubetask-dev")
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = settings.data_dir.resolve() / "logs"

    @property
    def endpoint(self) -> str:
        return self.etcd.endpoint

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kubetask", *args], stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((name, process))

    def start(self) -> None:
        s = self.settings
        if port_in_use(s.etcd_port):
            raise KubetaskError(f"port {s.etcd_port} on 127.0.0.1 is already in use (another "
                                "etcd or kubetask dev?): stop it, or pass --etcd-port N")
        self.out(f"kubetask dev: data and logs in {s.data_dir.resolve()}")
        self.etcd.start()
        pid = self.etcd.process.pid if self.etcd.process else "?"
        self.out(f"  etcd          {self.endpoint}  (pid {pid})")
        common = ["--etcd-endpoints", self.endpoint, "--namespace", s.namespace,
                  "--log-level", s.log_level]
        metrics = _has_dashboard()  # Prometheus needs the web extra
        ports = [free_port() for _ in range(s.workers + 1)] if metrics else []

        def metrics_args(index: int) -> list[str]:
            return ["--metrics-port", str(ports[index]), "--metrics-host", "127.0.0.1"] \
                if metrics else []

        self._spawn("scheduler-1", ["scheduler", "--node-id", "scheduler-1",
                                    "--strategy", s.strategy, *common, *metrics_args(0)])
        for i in range(1, s.workers + 1):
            self._spawn(f"worker-{i}", ["worker", "--node-id", f"worker-{i}", "--max-concurrent",
                                        str(s.max_concurrent), *common, *metrics_args(i)])
        self.out(f"  scheduler     scheduler-1 (strategy {s.strategy})")
        self.out(f"  workers       {', '.join(f'worker-{i}' for i in range(1, s.workers + 1))}"
                 f" ({s.max_concurrent} slots each)")
        if metrics:
            self.out("  metrics       " + ", ".join(
                f"http://127.0.0.1:{port}/metrics" for port in ports[:2]) + (" ..." if
                                                                           len(ports) > 2 else ""))
        if s.dashboard_port is not None and _has_dashboard():
            if port_in_use(s.dashboard_port):
                self.out(f"  dashboard     not started: port {s.dashboard_port} is in use "
                         "(pass --dashboard-port N)")
            else:
                self._spawn("dashboard", ["dashboard", "--port", str(s.dashboard_port),
                                          "--allow-writes", *common])
                self.out(f"  dashboard     http://127.0.0.1:{s.dashboard_port}/")
        self.out(f"  logs          {self.logs}/")
        self.out("Try, in another shell:  .venv/bin/kubetask client --queue=default "
                 "--type=echo --name=test-task --priority=1 --count=10")
        self.out("                        .venv/bin/kubetask stats")
        self.out("Ctrl-C stops everything.")

    def stop(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in self.children:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.out(f"  {name} did not stop in time; killing it")
                process.kill()
                process.wait(5)
        self.children.clear()
        self.etcd.stop()

    def dead_children(self) -> list[str]:
        return [f"{name} (exit {p.returncode})" for name, p in self.children
                if p.poll() is not None]

    async def watch(self, stop: asyncio.Event) -> None:
        """Submit the demo, then print a progress line whenever the counts change."""
        async with AsyncClient(self.endpoint, namespace=self.settings.namespace) as client:
            if self.settings.demo:
                tasks = await client.submit_many(demo_specs())
                self.out(f"Submitted {len(tasks)} demo tasks (echo, compute, unreliable, "
                         "and one of an unknown type that goes dead)")
            last = ""
            while not stop.is_set():
                line = await self._progress(client)
                if line != last:
                    self.out(f"{time.strftime('%H:%M:%S')}  {line}")
                    last = line
                dead = self.dead_children()
                if dead:
                    self.out(f"kubetask dev: a child process exited: {', '.join(dead)}; "
                             f"see {self.logs}/")
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
        for q in stats:
            d = q.to_dict()
            parts.append(f"[{d['queue']}] pending {d['pending']} running {d['running']} "
                         f"succeeded {d['succeeded']} retrying {d['retrying']} dead "
                         f"{d['dead']} cancelled {d['cancelled']} (failed attempts "
                         f"{d['failed_attempts']}) workers {d['workers']}")
        return " | ".join(parts)


def _has_dashboard() -> bool:
    try:
        return importlib.util.find_spec("kubetask.web.server") is not None
    except ImportError:
        return False


def run_dev(settings: DevSettings) -> int:
    system = DevSystem(settings)
    try:
        system.start()
    except KubetaskError:
        system.stop()
        raise

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await system.watch(stop)

    try:
        asyncio.run(main())
    finally:
        print("kubetask dev: stopping children...", flush=True)
        system.stop()
        print("kubetask dev: stopped.", flush=True)
    return 0
