"""The leader's housekeeping: delete finished tasks past retention, compact etcd history.

etcd keeps every version of every key until compaction; a busy queue writes a task record
several times, so without compaction the database only grows. The janitor samples the
store revision every pass and compacts to the revision it saw `compact_history` seconds
ago (watches that fall further behind than that re-list). Compaction is cluster-wide, so
leaders of several queues may race to it: an already-compacted revision is not an error.
"""

from __future__ import annotations

import collections
import logging
import time

from kubetask.errors import StoreError
from kubetask.queue.retention import Retention
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.store import Compare, Keyspace, Store

log = logging.getLogger(__name__)


class Janitor:
    def __init__(self, store: Store, keys: Keyspace, settings: SchedulerSettings) -> None:
        self.store = store
        self.settings = settings
        self.retention = Retention(store, keys, settings.queue)
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.compacted = 0
        self.deleted = 0

    async def sweep(self, fence: Compare) -> None:
        """One pass; errors are logged, never fatal (housekeeping must not stop dispatch)."""
        try:
            if self.settings.retention_seconds > 0:
                await self._expire(fence)
            if self.settings.compact_history_seconds > 0:
                await self._compact()
        except StoreError as exc:
            log.warning("janitor of %s: %s", self.settings.queue, exc)

    async def _expire(self, fence: Compare) -> None:
        cutoff = time.time() - self.settings.retention_seconds
        while True:
            expired = await self.retention.expired(cutoff)
            if not expired:
                return
            deleted = await self.retention.delete(expired, fence)
            self.deleted += deleted
            log.info("queue %s: deleted %d tasks finished before the retention period",
                     self.settings.queue, deleted)
            if deleted < len(expired):
                return

    async def _compact(self) -> None:
        now = time.monotonic()
        self._samples.append((now, await self.store.revision()))
        target = 0
        while self._samples and now - self._samples[0][0] >= self.settings.compact_history_seconds:
            target = self._samples.popleft()[1]
        if target > self.compacted:
            try:
                await self.store.compact(target)
                log.info("compacted etcd history up to revision %d", target)
            except StoreError as exc:
                if "compacted" not in str(exc):
                    raise
            self.compacted = target
