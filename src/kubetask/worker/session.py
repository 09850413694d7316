"""One registration of a worker: lease, worker record, the assignment and cancel watches,
heartbeat; from lease grant to lease loss (or stop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from kubetask.errors import Compacted, StoreError
from kubetask.model import WorkerInfo
from kubetask.queue import AttemptLog, WorkerTally
from kubetask.store import Event, Get, Keyspace, LeaseKeeper, Put, Store, Watch
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

    async def run(self) -> None:
        """From lease grant to lease loss: the claims of the session go with its lease."""
        host, attempts = self.host, self.attempts
        lease = LeaseKeeper(self.store, host.settings.lease_ttl, name=f"worker {self.id}")
        await lease.start()
        self.lease = lease
        host.tally.lease = lease.id
        attempt_log = AttemptLog(self.store, self.keys, self.id, host.tally)
        self.committer = attempts.committer = Committer(
            attempt_log, others_running=attempts.not_ending)
        self.committer.start()
        watches: list[Watch] = []
        try:
            await self._register()
            async with asyncio.TaskGroup() as group:
                cancels = await self.store.range_all(Get(self.keys.cancels(), prefix=True,
                                                         keys_only=True))
                attempts.cancels.replace(self.keys.task_id_of(kv.key) for kv in cancels.kvs)
                mine = await self.store.range_all(Get(self.keys.assignments(self.id),
                                                      prefix=True))
                # Puts only: the deletes are this worker's own ends (half the events); a
                # claim lost with the lease is dropped when the lease keeper says so, and
                # any write of it fails its compare meanwhile.
                watches.append(Watch(self.store, self.keys.assignments(self.id),
                                     start_revision=mine.revision + 1, puts_only=True))
                watches.append(Watch(self.store, self.keys.cancels(),
                                     start_revision=cancels.revision + 1, puts_only=True))
                for kv in mine.kvs:
                    attempts.on_assignment(kv.key, kv.value, kv.mod_revision)
                host.registered.set()
                settings = host.settings
                log.info("worker %s registered on queue %s (capacity %d, weight %d, types %s)",
                         self.id, settings.queue, settings.max_concurrent, settings.weight,
                         ",".join(host.registry.types))
                group.create_task(self._follow(watches[0], attempts.on_assignment_events,
                                               self._relist_assignments))
                group.create_task(self._follow(watches[1], attempts.on_cancel_events,
                                               self._relist_cancels))
                group.create_task(self._heartbeat())
                await lease.lost.wait()
                raise _SessionLost()
        except* _SessionLost:
            log.error("worker %s: lease lost; abandoning %d claims and re-registering",
                      self.id, len(attempts.by_task))
            attempts.abandon_all()
        finally:
            host.registered.clear()
            for watch in watches:
                watch.close()
            await self.close()
            # Whatever ended the session, its claims died with the lease; a claim left in
            # by_task would make the next session ignore a new assignment of that task.
            attempts.abandon_all()

    async def close(self) -> None:
        """Flush the committer, then revoke the lease (the worker key and claims go)."""
        if self.committer is not None:
            await self.committer.stop()
        if self.lease is not None:
            await self.lease.stop(revoke=True)

    async def _follow(self, watch: Watch, handle: Any,
                      relist: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                async for batch in watch:
                    handle(batch)
                return
            except Compacted as exc:
                # Events were missed and can't be replayed: re-list, then watch again.
                log.warning("worker %s: %s; re-listing", self.id, exc)
                watch.next_revision = await relist() + 1

    async def _relist_assignments(self) -> int:
        mine = await self.store.range_all(Get(self.keys.assignments(self.id), prefix=True))
        tokens = {self.keys.task_id_of(kv.key): kv.mod_revision for kv in mine.kvs}
        for task_id, run in list(self.attempts.by_task.items()):
            if tokens.get(task_id) != run.claim.token:
                self.attempts.on_revoked(task_id)
        for kv in mine.kvs:
            self.attempts.on_assignment(kv.key, kv.value, kv.mod_revision)
        return mine.revision

    async def _relist_cancels(self) -> int:
        cancels = await self.store.range_all(Get(self.keys.cancels(), prefix=True,
                                                 keys_only=True))
        self.attempts.on_cancel_events([Event(True, kv, None) for kv in cancels.kvs
                                        if self.keys.task_id_of(kv.key)
                                        not in self.attempts.cancels])
        return cancels.revision

    async def _register(self) -> None:
        """The worker record and its tally, under the session's lease. Later the tally is
        written only by the committer, with ends: a heartbeat never carries counts."""
        assert self.lease is not None
        tally = self.host.tally
        await self.store.txn([], [Put(self.keys.worker(self.host.settings.queue, self.id),
                                      orjson.dumps(self.host.info().to_dict()),
                                      lease=self.lease.id),
                                  tally.put(tally.counts)])

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
