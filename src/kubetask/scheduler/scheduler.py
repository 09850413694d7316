"""A scheduler process for one queue: campaign, lead a term, stand by, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from kubetask.errors import NotLeader, StoreError
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.scheduler.strategies import make_strategy
from kubetask.scheduler.term import LeaderTerm, TermMetrics
from kubetask.store import Election, Keyspace, LeaseKeeper, Store

log = logging.getLogger(__name__)


class Scheduler:
    """Several may run for one queue: one leads (etcd election), the others stand by.

    A leader's writes are fenced on its election key, so a leader whose session lapsed
    (paused, partitioned) cannot dispatch even before it notices.
    """

    def __init__(self, store: Store, keys: Keyspace, settings: SchedulerSettings,
                 metrics: TermMetrics | None = None) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.strategy = make_strategy(settings.strategy)
        self.metrics = metrics
        self.leading = asyncio.Event()
        self.terms = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"scheduler-{self.settings.queue}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait(self) -> None:
        """Until the component ends by itself (an error); cancelling the waiter is safe."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._one_session()
                delay = 0.2
            except (StoreError, NotLeader) as exc:  # NotLeader: our session expired meanwhile
                log.warning("scheduler %s: etcd trouble (%s); retrying in %.1fs",
                            self.settings.node_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                # A bug in one term must not take the queue's scheduler down for good:
                # the session (and leadership) was given up; campaign again.
                log.exception("scheduler %s: term failed unexpectedly; campaigning again in "
                              "%.1fs", self.settings.node_id, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _one_session(self) -> None:
        lease = LeaseKeeper(self.store, self.settings.session_ttl,
                            name=f"scheduler session {self.settings.node_id}")
        await lease.start()
        try:
            election = Election(self.store, self.keys.election(self.settings.queue),
                                lease=lease.id, value=self.settings.node_id.encode())
            if not await _until_lost(election.campaign(), lease):
                return
            self.terms += 1
            log.info("scheduler %s leads queue %s (term fence %d, strategy %s)",
                     self.settings.node_id, self.settings.queue, election.revision,
                     self.strategy.name)
            self.leading.set()
            term = LeaderTerm(self.store, self.keys, self.settings, self.strategy,
                              election.fence(), self.metrics)
            try:
                await _until_lost(term.run(), lease)
                log.warning("scheduler %s: session lost; no longer leading %s",
                            self.settings.node_id, self.settings.queue)
            except NotLeader as exc:
                log.warning("scheduler %s: %s", self.settings.node_id, exc)
            finally:
                self.leading.clear()
        finally:
            await lease.stop(revoke=True)


async def _until_lost(work: Coroutine[Any, Any, None], lease: LeaseKeeper) -> bool:
    """Run `work` until it ends (True) or the lease is lost first (False)."""
    job = asyncio.ensure_future(work)
    lost = asyncio.ensure_future(lease.lost.wait())
    try:
        await asyncio.wait({job, lost}, return_when=asyncio.FIRST_COMPLETED)
        if job.done():
            job.result()
            return True
        return False
    finally:
        for f in (job, lost):
            if not f.done():
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await f
