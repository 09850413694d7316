"""A stats snapshot: each queue's counts, its workers' records, tallies and assigned tasks,
its leader and its defaults, all read at one etcd revision, so the figures add up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from kubetask.model import QueueConfig, Tally, WorkerInfo
from kubetask.queue.config import decode_config
from kubetask.queue.reader import QueueCounts, Reader
from kubetask.store import MAX_TXN_OPS, Get, Keyspace, RangeResult, Store, leader_of


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    counts: QueueCounts
    workers: list[WorkerInfo]  # their heartbeat records (load: as of their last heartbeat)
    active: dict[str, int] = field(default_factory=dict)  # worker -> tasks assigned or running
    tallies: dict[str, Tally] = field(default_factory=dict)  # worker -> its tally
    leader: bytes | None = None
    config: QueueConfig = field(default_factory=QueueConfig)

    @property
    def orphaned(self) -> int:
        """Active tasks of workers that are gone (their lease ended): the leader hands
        them back within its sweep."""
        present = {w.id for w in self.workers}
        return sum(n for worker, n in self.active.items() if worker not in present)


class SnapshotReader:
    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys
        self.reader = Reader(store, keys)

    async def read(self, queues: Sequence[str] | None = None) -> list[QueueSnapshot]:
        """Snapshots of `queues` (None: every queue), every one at the same revision."""
        revision = 0
        if queues is None:
            queues, revision = await self.reader.queues_at()
        per_txn = MAX_TXN_OPS // len(self._gets("q", 0))
        out: list[QueueSnapshot] = []
        for start in range(0, len(queues), per_txn):
            group = queues[start:start + per_txn]
            ops = [op for q in group for op in self._gets(q, revision)]
            result = await self.store.txn([], ops)
            revision = revision or result.revision  # later reads: as of the first one
            responses = result.responses
            width = len(ops) // len(group)
            for i, q in enumerate(group):
                out.append(self._snapshot(q, responses[i * width:(i + 1) * width], revision))
        return out

    def _gets(self, queue: str, revision: int) -> list[Get]:
        k = self.keys
        return [*self.reader.count_gets(queue, revision),
                Get(k.assignments_all(queue), prefix=True, keys_only=True, revision=revision),
                Get(k.workers(queue), prefix=True, revision=revision),
                Get(k.tallies(queue), prefix=True, revision=revision),
                Get(k.election(queue), prefix=True, revision=revision),
                Get(k.queue_config(queue), revision=revision)]

    def _snapshot(self, queue: str, responses: Sequence[RangeResult | int | None],
                  revision: int) -> QueueSnapshot:
        active, workers, tallies, leader, config = (
            r if isinstance(r, RangeResult) else RangeResult([], 0, False, revision)
            for r in responses[-5:])
        k = self.keys
        return QueueSnapshot(
            counts=self.reader.counts_of(queue, responses[:-5], revision),
            workers=[WorkerInfo.from_dict(orjson.loads(kv.value)) for kv in workers.kvs],
            active=dict(Counter(k.claim_of(kv.key)[0] for kv in active.kvs)),
            tallies={k.worker_of_tally(kv.key): Tally.from_dict(orjson.loads(kv.value))
                     for kv in tallies.kvs},
            leader=leader_of(leader.kvs),
            config=decode_config(config.kvs[0] if config.kvs else None))
