"""A scheduler process for one queue: campaign, lead a term, stand by, repeat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from kubetask.errors import NotLeader, StoreError
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.scheduler.strategies import make_strategy
from kubetask.scheduler.term import LeaderTerm, TermMetrics
from kubetask.service import BackgroundService
from kubetask.store import Election, Keyspace, LeaseKeeper, Store
from kubetask.supervisor import RestartPolicy, Restarts
from kubetask.wakeup import cancel_and_wait

log = logging.getLogger(__name__)

# etcd trouble, or our session expired meanwhile (NotLeader): campaign again.
SESSION_RESTARTS = RestartPolicy(restart_on=(StoreError, NotLeader))


class Scheduler(BackgroundService):
    """Several may run for one queue: one leads (etcd election), the others stand by.

    A leader's writes are fenced on its election key, so a leader whose session lapsed
    (paused, partitioned) cannot dispatch even before it notices. Sessions restart by
    `restarts` (etcd trouble: for as long as it lasts; a bug in a term: logged with its
    traceback, and when it repeats the scheduler gives up: wait() raises ServiceFailed).
    """

    def __init__(self, store: Store, keys: Keyspace, settings: SchedulerSettings,
                 metrics: TermMetrics | None = None,
                 restarts: RestartPolicy = SESSION_RESTARTS) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.strategy = make_strategy(settings.strategy)
        self.metrics = metrics
        self.restarts = restarts
        self.leading = asyncio.Event()
        self.terms = 0

    def _task_name(self) -> str:
        return f"scheduler-{self.settings.queue}"

    async def _run(self) -> None:
        restarts = Restarts(f"scheduler {self.settings.node_id}", self.restarts)
        await restarts.run(self._one_session)

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
        await cancel_and_wait(job, lost)  # job's error, if any, was raised above
