"""One registration of a worker: lease, worker record, the assignment and cancel watches,
heartbeat; from lease grant to lease loss (or stop)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import orjson

from kubetask.errors import StoreError
from kubetask.model import WorkerInfo
from kubetask.queue import AttemptLog, WorkerTally
from kubetask.store import Event, Keyspace, LeaseKeeper, ListWatch, Put, RangeResult, Store
from kubetask.worker.attempts import Attempts
from kubetask.worker.committer import Committer
from kubetask.worker.executors import ExecutorRegistry
from kubetask.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class SessionHost(Protocol):
    """What a session needs of its worker."""

    id: str
    store: Store
    keys: Keyspace
    settings: WorkerSettings
    tally: WorkerTally
    registered: asyncio.Event
    attempts: Attempts
    registry: ExecutorRegistry

    def info(self) -> WorkerInfo: ...

    def drain_requested(self, asked: bool) -> bool: ...


class _SessionLost(Exception):
    pass


class Session:
    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.id = host.id
        self.store = host.store
        self.keys = host.keys
        self.attempts = host.attempts
        self.lease: LeaseKeeper | None = None
        self.committer: Committer | None = None
        self._assignments: ListWatch | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._beat: asyncio.Task[None] | None = None
        self._closing = False  # no new publish: the lease is about to be revoked

    async def run(self) -> None:
        """From lease grant to lease loss: the claims of the session go with its lease."""
        host, attempts = self.host, self.attempts
        lease = LeaseKeeper(self.store, host.settings.lease_ttl, name=f"worker {self.id}")
        await lease.start()
        self.lease = lease
        host.tally.lease = lease.id
        queue = host.settings.queue
        attempt_log = AttemptLog(self.store, self.keys, self.keys.worker(queue, self.id),
                                 lease.id, host.tally)
        self.committer = attempts.committer = Committer(
            attempt_log, others_running=attempts.not_ending,
            end_linger=0.005 if host.settings.prefetch_depth else 0.002)
        self.committer.start()
        # This session's claims only: they are named after its lease. (Claims of an earlier
        # process with this worker id, e.g. a container restarted in its pod, are under
        # another lease: the leader hands them back, and may assign them here again.)
        # Puts only: an assignment's deletes are this worker's own ends (half the events);
        # a claim lost with the lease is dropped when the lease keeper says so, and any
        # write of it fails its compare meanwhile. A cancel key is deleted with its task's end.
        mine = self._assignments = ListWatch(
            self.store, self.keys.assignments(queue, self.id, lease.id),
            on_list=self._load_assignments, puts_only=True)
        cancels = ListWatch(self.store, self.keys.cancels(), on_list=self._load_cancels,
                            keys_only=True, puts_only=True)
        drains = ListWatch(self.store, self.keys.drains(host.settings.queue),
                           on_list=self._load_drains, keys_only=True)
        try:
            await self._register()
            async with asyncio.TaskGroup() as group:
                await cancels.list()  # first: an assignment listed next may be cancelled
                await mine.list()
                await drains.list()
                host.registered.set()
                settings = host.settings
                log.info("worker %s registered on queue %s (capacity %d, prefetch %d, "
                         "weight %d, types %s)", self.id, settings.queue,
                         settings.max_concurrent, settings.prefetch_depth, settings.weight,
                         ",".join(host.registry.types))
                group.create_task(mine.run(self._on_assignment_events))
                group.create_task(cancels.run(attempts.on_cancel_events))
                group.create_task(drains.run(self._on_drain_events))
                self._beat = group.create_task(self._heartbeat())
                await lease.lost.wait()
                raise _SessionLost()
        except* _SessionLost:
            log.error("worker %s: lease lost; abandoning %d claims and re-registering",
                      self.id, len(attempts.by_task))
            attempts.abandon_all()
        finally:
            host.registered.clear()
            mine.close()
            cancels.close()
            drains.close()
            await self.close()
            # Whatever ended the session, its claims are dead (the leader hands them back);
            # one left in by_task would make the next session ignore a new assignment.
            attempts.abandon_all()

    def not_ready(self) -> str | None:
        """Why this session cannot take tasks now (None: it can): registered under a lease
        refreshed within its TTL, its assignment watch open."""
        lease, mine = self.lease, self._assignments
        if lease is None or mine is None or not self.host.registered.is_set():
            return "not registered in etcd yet"
        silent = time.monotonic() - lease.last_refresh
        if lease.lost.is_set() or silent > lease.ttl:
            return f"worker lease not refreshed for {silent:.0f}s (etcd unreachable?)"
        if not mine.open:
            return "assignment watch not open (etcd unreachable?)"
        return None

    async def close(self) -> None:
        """Flush the committer, stop writing the worker record, then revoke the lease (the
        worker key goes; the leader hands back any claim left at once). A heartbeat still in
        flight after the revoke would be a put under a dead lease ("lease not found" in
        etcd's log)."""
        self._closing = True
        if self.committer is not None:
            await self.committer.stop()
        publishing = [f for f in (self._beat, *self._background) if f is not None]
        for future in publishing:
            future.cancel()
        if publishing:
            await asyncio.wait(publishing)
        if self.lease is not None:
            await self.lease.stop(revoke=True)

    def _load_assignments(self, listing: RangeResult) -> None:
        """Every assignment of this worker now (first, and after a compaction): an attempt
        whose claim is no longer listed is dropped, a new claim starts."""
        tokens = {self.keys.task_id_of(kv.key): kv.mod_revision for kv in listing.kvs}
        for task_id, run in list(self.attempts.by_task.items()):
            if tokens.get(task_id) != run.claim.token:
                self.attempts.on_revoked(task_id)
        for kv in listing.kvs:
            self.attempts.on_assignment(kv.key, kv.value, kv.mod_revision)

    def _on_assignment_events(self, batch: list[Event]) -> None:
        self.attempts.on_assignment_events(batch)

    def _load_cancels(self, listing: RangeResult) -> None:
        """Every cancel key now: those gone are forgotten, the new ones reach their attempts
        (or are remembered for an assignment still to come)."""
        listed = {self.keys.task_id_of(kv.key): kv for kv in listing.kvs}
        fresh = [Event(True, kv, None) for task_id, kv in listed.items()
                 if task_id not in self.attempts.cancels]
        self.attempts.cancels.retain(listed)
        self.attempts.on_cancel_events(fresh)

    def _load_drains(self, listing: RangeResult) -> None:
        asked = self.keys.drain(self.host.settings.queue, self.id)
        self._drain_requested(any(kv.key == asked for kv in listing.kvs))

    def _on_drain_events(self, batch: list[Event]) -> None:
        asked = self.keys.drain(self.host.settings.queue, self.id)
        for event in batch:
            if event.key == asked:
                self._drain_requested(event.put)

    def _drain_requested(self, asked: bool) -> None:
        """Follow a drain request; the worker record says so at once (not at the next
        heartbeat): `kubetask stats` and the scheduler see the state."""
        if self.host.drain_requested(asked):
            self.publish_soon()

    def publish_soon(self) -> None:
        """Write the worker record now, in the background (a state change, not a beat)."""
        if self.lease is not None and not self._closing:
            publish = asyncio.ensure_future(self._publish_now())
            self._background.add(publish)
            publish.add_done_callback(self._background.discard)

    async def _publish_now(self) -> None:
        try:
            await self.publish()
        except StoreError as exc:
            log.warning("worker %s: could not publish its state (%s)", self.id, exc)

    async def _register(self) -> None:
        """The worker record and its tally, under the session's lease, and the queue's
        marker (a queue with workers and no task yet is listed). Later the tally is written
        only by the committer, with ends: a heartbeat never carries counts."""
        assert self.lease is not None
        tally, queue = self.host.tally, self.host.settings.queue
        await self.store.txn([], [Put(self.keys.worker(queue, self.id),
                                      orjson.dumps(self.host.info().to_dict()),
                                      lease=self.lease.id),
                                  tally.put(tally.counts),
                                  Put(self.keys.queue_meta(queue), b"{}")])

    async def publish(self) -> None:
        assert self.lease is not None
        await self.store.put(self.keys.worker(self.host.settings.queue, self.id),
                             orjson.dumps(self.host.info().to_dict()), lease=self.lease.id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.host.settings.heartbeat_interval)
            try:
                await self.publish()
            except StoreError as exc:
                log.warning("worker %s: heartbeat failed (%s)", self.id, exc)
