"""Drain requests: a worker asked to stop taking tasks (the autoscaler's scale-in picks it to
go) finishes what it runs; undone when it is to stay. The request key lives under the
worker's own lease, so it vanishes with the worker."""

from __future__ import annotations

import logging

from kubetask.errors import WorkerNotFound
from kubetask.store import Compare, Delete, Get, Keyspace, Put, Store

log = logging.getLogger(__name__)


class Drains:
    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys

    async def request(self, queue: str, worker: str) -> bool:
        """Ask `worker` to drain: the scheduler stops assigning to it at once, the worker
        hands back what it holds but has not started and finishes the rest. True when the
        request was written now (False: it stood already). WorkerNotFound when no such
        worker is registered (nothing is written)."""
        member, drain = self.keys.worker(queue, worker), self.keys.drain(queue, worker)
        kv = await self.store.get(member)
        if kv is None:
            raise WorkerNotFound(f"no worker {worker!r} is registered on queue {queue!r} "
                                 f"in namespace {self.keys.namespace!r}")
        result = await self.store.txn(
            [Compare(member, "lease", "==", kv.lease), Compare.absent(drain)],
            [Put(drain, b"{}", lease=kv.lease)])
        if result.succeeded:
            log.info("worker %s of queue %s asked to drain", worker, queue)
            return True
        if await self.store.get(member) is None:
            raise WorkerNotFound(f"worker {worker!r} of queue {queue!r} left meanwhile")
        return False

    async def cancel(self, queue: str, worker: str) -> bool:
        """Undo a drain request: the worker takes tasks again. True when one was removed."""
        result = await self.store.txn([], [Delete(self.keys.drain(queue, worker))])
        removed = bool(result.responses[0])
        if removed:
            log.info("worker %s of queue %s: drain request undone", worker, queue)
        return removed

    async def workers(self, queue: str) -> list[str]:
        """The workers of `queue` asked to drain (and still registered)."""
        found = await self.store.range_all(Get(self.keys.drains(queue), prefix=True,
                                               keys_only=True))
        return [self.keys.worker_of_drain(kv.key) for kv in found.kvs]
