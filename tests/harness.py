"""Test harness: schedulers, workers and the dashboard in-process, and `kubetask` child
processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from kubetask.client import AsyncClient
from kubetask.scheduler import Scheduler, SchedulerSettings
from kubetask.store import Keyspace, Store
from kubetask.web.server import create_app
from kubetask.web.settings import DashboardSettings
from kubetask.worker import ExecutorRegistry, Worker, WorkerSettings
from kubetask.worker.load import LoadSampler


class QuietLoad(LoadSampler):
    """Reports no CPU or memory. In-process workers share one process, so psutil credits
    each with the others' CPU: tests of least_load use this to see slot use only."""

    def sample(self) -> tuple[float, float]:
        return 0.0, 0.0


class InProcessSystem:
    """Start schedulers and workers on their own Store connections; stop them all."""

    def __init__(self, endpoints: Sequence[str], keys: Keyspace) -> None:
        self.endpoints = list(endpoints)
        self.keys = keys
        self.schedulers: list[Scheduler] = []
        self.workers: list[Worker] = []
        self._stores: list[Store] = []

    async def _store(self) -> Store:
        s = Store(self.endpoints)
        await s.start()
        self._stores.append(s)
        return s

    async def scheduler(self, settings: SchedulerSettings | None = None, **kw: object) -> Scheduler:
        settings = replace(settings or SchedulerSettings(node_id=f"s{len(self.schedulers)}"),
                           **kw)  # type: ignore[arg-type]
        sched = Scheduler(await self._store(), self.keys, settings)
        await sched.start()
        self.schedulers.append(sched)
        return sched

    async def worker(self, settings: WorkerSettings | None = None,
                     registry: ExecutorRegistry | None = None, *,
                     load: LoadSampler | None = None, **kw: object) -> Worker:
        settings = replace(settings or WorkerSettings(node_id=f"w{len(self.workers)}"),
                           **kw)  # type: ignore[arg-type]
        w = Worker(await self._store(), self.keys, settings, registry, load=load)
        await w.start()
        await asyncio.wait_for(w.registered.wait(), 10)
        self.workers.append(w)
        return w

    async def stop(self) -> None:
        for w in self.workers:
            await w.stop(graceful=False)
        for s in self.schedulers:
            await s.stop()
        for st in self._stores:
            await st.stop()


class Proc:
    """A `kubetask ...` child process in its own process group, with its log in a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.args = list(args)
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen([sys.executable, "-m", "kubetask", *args], env=env,
                                      stdout=self._out, stderr=self._out,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.popen.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def running_dashboard(client: AsyncClient,
                            settings: DashboardSettings) -> AsyncIterator[str]:
    """The dashboard app in this process on a free 127.0.0.1 port; yields its base URL."""
    runner = web.AppRunner(create_app(client, settings), access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
