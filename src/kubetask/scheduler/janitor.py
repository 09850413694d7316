"""The leader's housekeeping: delete finished tasks past retention, compact etcd history.

etcd keeps every version of every key until compaction; a busy queue writes a task record
several times, so without compaction the database only grows. The janitor samples the
store revision every pass and compacts to the revision it saw `compact_history` seconds
ago (watches that fall further behind than that re-list). Compaction is cluster-wide, so
leaders of several queues may race to it: an already-compacted revision is not an error.

Each step runs on its own: a failing expiry does not stop compaction, nor the reverse.
A step's failure is a warning once per cause, not once per pass; its recovery is logged.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from kubetask.errors import StoreError
from kubetask.queue.retention import Retention
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.store import Compare, Keyspace, Store
from kubetask.trouble import Trouble

log = logging.getLogger(__name__)


class Step:
    """One housekeeping step of a queue's janitor, and the state of its failures."""

    def __init__(self, queue: str, name: str) -> None:
        self.queue = queue
        self.name = name
        self.trouble = Trouble()

    async def run(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Run `step`; a StoreError is logged (a warning when its cause is new), never
        raised: housekeeping must not stop dispatch. Returns whether it succeeded."""
        try:
            await step()
        except StoreError as exc:
            if self.trouble.failed(str(exc)) == logging.WARNING:
                log.warning("janitor of %s: %s failed: %s (repeats of this are logged at "
                            "debug level)", self.queue, self.name, exc)
            else:
                log.debug("janitor of %s: %s failed again (%d in a row): %s", self.queue,
                          self.name, self.trouble.failures, exc)
            return False
        recovery = self.trouble.recovered()
        if recovery is not None:
            log.info("janitor of %s: %s works again after %d failed passes", self.queue,
                     self.name, recovery.failures)
        return True


class Janitor:
    def __init__(self, store: Store, keys: Keyspace, settings: SchedulerSettings) -> None:
        self.store = store
        self.settings = settings
        self.retention = Retention(store, keys, settings.queue)
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.expiry = Step(settings.queue, "expiry of finished tasks")
        self.compaction = Step(settings.queue, "compaction of etcd history")
        self.compacted = 0
        self.deleted = 0

    async def sweep(self, fence: Compare) -> None:
        """One pass of every step; errors are logged, never fatal."""
        if self.settings.retention_seconds > 0:
            await self.expiry.run(lambda: self._expire(fence))
        if self.settings.compact_history_seconds > 0:
            await self.compaction.run(self._compact)

    async def _expire(self, fence: Compare) -> None:
        cutoff = time.time() - self.settings.retention_seconds
        deleted = 0
        async with contextlib.aclosing(self.retention.expired(cutoff)) as pages:
            async for expired in pages:
                done = await self.retention.delete(expired, fence)
                deleted += done
                if done < len(expired):
                    break  # records changed, or leadership was lost: the next pass sees
        self.deleted += deleted
        if deleted:
            log.info("queue %s: deleted %d tasks finished before the retention period",
                     self.settings.queue, deleted)

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
