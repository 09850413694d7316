"""The worker process: register under a lease, receive assignments, run, commit, drain.

The parts: worker.session (one registration: lease, watches, heartbeat), worker.attempts
(the attempts, their slots and states), worker.outcome (an attempt's job: executor, end
record, hand-back), worker.committer (group commit), worker.faults (which errors stop it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from kubetask.errors import ServiceFailed, StoreError
from kubetask.model import Tally, WorkerInfo, WorkerState
from kubetask.queue import QueueConfigs, WorkerTally
from kubetask.service import BackgroundService
from kubetask.store import Keyspace, Store
from kubetask.supervisor import RestartPolicy, Restarts
from kubetask.worker.executors import ExecutorRegistry
from kubetask.worker.hooks import WorkerMetrics
from kubetask.worker.load import LoadSampler
from kubetask.worker.outcome import AttemptRunner
from kubetask.worker.session import Session
from kubetask.worker.settings import WorkerSettings

__all__ = ["Worker", "WorkerMetrics"]

log = logging.getLogger(__name__)


class Worker(BackgroundService):
    def __init__(self, store: Store, keys: Keyspace, settings: WorkerSettings,
                 registry: ExecutorRegistry | None = None,
                 metrics: WorkerMetrics | None = None,
                 load: LoadSampler | None = None) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.id = settings.node_id
        self.registry = registry or ExecutorRegistry()
        self.metrics = metrics or WorkerMetrics()
        self.started_at = time.time()
        # Succeeded and failed attempts as committed: written with each batch of ends.
        self.tally = WorkerTally(keys.tally(settings.queue, self.id), Tally(since=self.started_at))
        self.registered = asyncio.Event()
        self._runner = AttemptRunner(settings, keys, self.registry, self.metrics,
                                     QueueConfigs(store, keys), on_bug=self._fault,
                                     on_advert=self._publish_soon)
        self.attempts = self._runner.attempts
        self._load = load or LoadSampler()
        # One rule for its bugs, in a session or in an attempt: logged with the traceback,
        # the third within a minute stops the worker (ServiceFailed; the process exits 1).
        self._restarts = Restarts(f"worker {self.id}", RestartPolicy())
        self._failure: ServiceFailed | None = None
        self._session: Session | None = None
        self._stopping = False  # drain() began: a drain request's undo no longer applies

    # --- lifecycle ---------------------------------------------------------------
    def _task_name(self) -> str:
        return f"worker-{self.id}"

    async def stop(self, *, graceful: bool = True) -> None:
        """Graceful: drain (no new tasks, running ones finish within the shutdown timeout,
        the rest are handed back at once), then revoke the lease. A failure was raised by
        wait() and logged: stopping after it is not an error."""
        if self._task is None:
            return
        if graceful:
            await self.drain()
        await super().stop()
        jobs = [r.job for r in self.attempts.by_task.values() if r.job is not None]
        self.attempts.abandon_all()  # not graceful: nothing more is committed; leases expire
        if jobs:
            await asyncio.wait(jobs, timeout=2)
        self._runner.shutdown()

    @property
    def running(self) -> int:
        """Attempts holding a slot."""
        return self._runner.slots.held

    def not_ready(self) -> str | None:
        """Why the worker cannot take tasks now, for a readiness probe (None: it can):
        draining, or no registration under a live lease with its assignment watch open."""
        if self._runner.slots.draining:
            return "draining"
        session = self._session
        if session is None:
            return "not registered in etcd yet"
        return session.not_ready()

    def finished_last_minute(self) -> int:
        return self._runner.finished_last_minute()

    def info(self) -> WorkerInfo:
        cpu, memory = self._load.sample()
        now = time.time()
        start, succeeded, failed = self._runner.history.window(now)
        draining = self._runner.slots.draining
        return WorkerInfo(
            id=self.id, queue=self.settings.queue, capacity=self.settings.max_concurrent,
            weight=self.settings.weight,
            prefetch=0 if draining else self._runner.prefetch.advertised,
            state=WorkerState.DRAINING if draining else WorkerState.ACTIVE,
            cpu_percent=cpu, memory_percent=memory, hostname=socket.gethostname(),
            pid=os.getpid(), started_at=self.started_at, heartbeat_at=now,
            types=self.registry.types, finished_last_minute=self.finished_last_minute(),
            history_start=start, succeeded_history=succeeded, failed_attempts_history=failed)

    async def _run(self) -> None:
        """Sessions one after another: etcd trouble registers again after a backoff, a bug
        too until the restart rule gives up (wait() then raises ServiceFailed)."""
        try:
            await self._restarts.run(self._one_session)
        except asyncio.CancelledError:
            if self._failure is not None:  # a bug in an attempt gave up: see _fault
                raise self._failure from None
            raise

    async def _one_session(self) -> None:
        self._session = Session(self)
        await self._session.run()

    def _publish_soon(self) -> None:
        """What the worker advertises changed: its record says so now, not at the next
        heartbeat."""
        if self._session is not None:
            self._session.publish_soon()

    def _fault(self, exc: BaseException, where: str) -> None:
        """A bug outside the session loop (in an attempt's job): counted by the same rule;
        when it gives up, the worker's run is cancelled and ends with that failure."""
        try:
            self._restarts.bug(exc, where)
        except ServiceFailed as failure:
            if self._failure is None and self._task is not None:
                self._failure = failure
                self._task.cancel()

    # --- graceful shutdown ---------------------------------------------------------
    def drain_requested(self, asked: bool) -> bool:
        """A drain request in etcd appeared (True) or was undone (False): stop taking tasks
        (those held but not started are handed back, running ones finish), or take them
        again. The process stays; it ends on SIGTERM as always. True when that changed."""
        slots = self._runner.slots
        if self._stopping or asked == slots.draining:
            return False
        (slots.drain if asked else slots.undrain)()
        log.info("worker %s: %s (%d running)", self.id,
                 "drain requested, taking no more tasks" if asked
                 else "drain request undone, taking tasks again", self.running)
        return True

    async def drain(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._runner.slots.drain()  # prefetched claims are handed back now
        log.info("worker %s draining: %d running, waiting up to %.0fs", self.id, self.running,
                 self.settings.shutdown_timeout)
        session = self._session
        with contextlib.suppress(StoreError):
            if session is not None and session.lease is not None and self.registered.is_set():
                await session.publish()
        jobs = [r.job for r in self.attempts.by_task.values() if r.job is not None]
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=self.settings.shutdown_timeout)
            for run in list(self.attempts.by_task.values()):
                if run.job in late:
                    await self._runner.interrupt(run)
        if session is not None:
            await session.close()  # the worker key goes; the leader hands back claims left
        log.info("worker %s stopped (succeeded %d, failed attempts %d)", self.id,
                 self.tally.counts.succeeded, self.tally.counts.failed_attempts)
