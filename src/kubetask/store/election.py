"""Leader election per queue, with the fence every leader-only write must carry.

Candidates put `<election>/<lease-hex>` under their session lease; the lowest create
revision leads. A leader's writes compare that key's create revision (`fence()`), so a
leader whose session expired (paused, partitioned) cannot write even if it still
believes it leads (research: reliability.md §c.5).
"""

from __future__ import annotations

import logging

from kubetask.errors import NotLeader
from kubetask.store.client import Store
from kubetask.store.ops import Compare, Delete, Get, KeyValue, Put
from kubetask.store.watch import Watch

log = logging.getLogger(__name__)


class Election:
    def __init__(self, store: Store, prefix: str, *, lease: int, value: bytes) -> None:
        self._store = store
        self.prefix = prefix
        self.lease = lease
        self.value = value
        self.key = f"{prefix}{lease:016x}"
        self.revision = 0  # create revision of our key: the fencing token of this term

    def fence(self) -> Compare:
        if not self.revision:
            raise NotLeader("not campaigning")
        return Compare.create_revision(self.key, self.revision)

    async def campaign(self) -> None:
        """Return once this candidate leads (blocks while another does)."""
        result = await self._store.txn([Compare.absent(self.key)],
                                       [Put(self.key, self.value, self.lease)],
                                       [Get(self.key)])
        if result.succeeded:
            self.revision = result.revision
        else:
            existing = result.responses[0]
            assert existing is not None and not isinstance(existing, int)
            self.revision = existing.kvs[0].create_revision
        while True:
            candidates = await self._store.range(Get(self.prefix, prefix=True))
            ahead = [kv for kv in candidates.kvs if kv.create_revision < self.revision]
            if not any(kv.key == self.key for kv in candidates.kvs):
                raise NotLeader("our candidacy vanished (session lease expired)")
            if not ahead:
                return
            # Wait for the candidate just ahead (no herd when the leader goes); name the leader.
            predecessor = max(ahead, key=lambda kv: kv.create_revision)
            leader = min(ahead, key=lambda kv: kv.create_revision)
            log.info("standing by: %s leads queue %s", leader.value.decode(errors="replace"),
                     self.prefix.rstrip("/").rsplit("/", 2)[-2])
            await self._wait_deleted(predecessor.key, candidates.revision + 1)

    async def _wait_deleted(self, key: str, revision: int) -> None:
        watch = Watch(self._store, key, start_revision=revision, prefix=False)
        try:
            async for batch in watch:
                if any(not event.put for event in batch):
                    return
        finally:
            watch.close()

    async def leader(self) -> bytes | None:
        """The current leader's value (None when nobody campaigns)."""
        return leader_of((await self._store.range(Get(self.prefix, prefix=True))).kvs)

    async def resign(self) -> None:
        if self.revision:
            await self._store.txn([self.fence()], [Delete(self.key)])
            self.revision = 0


def leader_of(candidates: list[KeyValue]) -> bytes | None:
    """The leader's value among the candidates' keys (None when nobody campaigns)."""
    if not candidates:
        return None
    return min(candidates, key=lambda kv: kv.create_revision).value
