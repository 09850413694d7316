"""Reads for users and dashboards: one task, lists by state, exact counts, workers."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from kubetask.errors import TaskNotFound, ValidationError
from kubetask.model import Priority, Task, TaskState, WorkerInfo, id_floor
from kubetask.queue import codec
from kubetask.queue.indexes import index_prefix
from kubetask.store import Get, Keyspace, RangeResult, Store, leader_of


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue's exact counts, read at one etcd revision. Tasks by state (each task in
    one), except `failed_attempts`: attempts that failed, of tasks in any state. Finished
    tasks and their failed attempts count until retention deletes them."""

    queue: str
    pending_by_priority: dict[str, int]
    running: int
    retrying: int
    succeeded: int
    failed_attempts: int  # attempts that failed (a count of attempts, not of tasks)
    dead: int
    cancelled: int
    workers: int
    revision: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(self.pending_by_priority.values())

    @property
    def total(self) -> int:
        return self.pending + self.running + self.retrying + self.succeeded + self.dead + \
            self.cancelled


class Reader:
    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys

    async def get(self, task_id: str) -> Task:
        kv = await self.store.get(self.keys.task(task_id))
        if kv is None:
            raise TaskNotFound(f"no task {task_id!r} in namespace {self.keys.namespace!r}")
        return codec.load(kv.value)

    async def by_idempotency_key(self, queue: str, key: str) -> Task:
        """The task submitted to `queue` with idempotency key `key`."""
        kv = await self.store.get(self.keys.idempotency(queue, key))
        if kv is None:
            raise TaskNotFound(f"no task with idempotency key {key!r} in queue {queue!r} of "
                               f"namespace {self.keys.namespace!r}")
        return await self.get(kv.value.decode())

    async def ids_with_prefix(self, prefix: str, *, limit: int) -> tuple[builtins.list[str], int]:
        """The first `limit` ids (in id order) of the tasks whose id starts with `prefix`,
        and how many match in all: one range read of keys, bounded by `limit`."""
        result = await self.store.range(Get(self.keys.task(prefix), prefix=True, keys_only=True),
                                        limit=limit)
        return [self.keys.task_id_of(kv.key) for kv in result.kvs], result.count

    async def get_many(self, task_ids: builtins.list[str]) -> builtins.list[Task]:
        """The tasks of `task_ids` that exist, in order (as few round trips as etcd allows)."""
        results = await self.store.read_many([Get(self.keys.task(i)) for i in task_ids])
        return [codec.load(r.kvs[0].value) for r in results if r.kvs]

    async def queues(self) -> builtins.list[str]:
        return (await self.queues_at())[0]

    async def queues_at(self) -> tuple[builtins.list[str], int]:
        """The queues' names, and the revision they were read at."""
        result = await self.store.range_all(Get(self.keys.queues(), prefix=True, keys_only=True))
        return sorted({self.keys.queue_of(kv.key) for kv in result.kvs
                       if kv.key.endswith("/meta")}), result.revision

    async def list(self, *, queue: str | None = None, state: TaskState | None = None,
                   limit: int = 100, after: str | None = None) -> builtins.list[Task]:
        """Tasks, newest first when unfiltered; filtered by queue and/or state."""
        if limit < 1 or limit > 10_000:
            raise ValidationError(f"limit must be from 1 to 10000, got {limit}")
        if state is None and queue is None:
            return await self._scan_records(limit=limit, after=after)
        # Filtered: ids from the state indexes (keys only), then records for one page.
        queues = [queue] if queue is not None else await self.queues()
        states = builtins.list(TaskState) if state is None else [state]
        ids: builtins.list[str] = []
        for q in queues:
            for prefix in dict.fromkeys(index_prefix(self.keys, q, s) for s in states):
                result = await self.store.range_all(Get(prefix, prefix=True, keys_only=True))
                ids += [self.keys.task_id_of(kv.key) for kv in result.kvs]
        ids = sorted({i for i in ids if after is None or i < after}, reverse=True)
        tasks: builtins.list[Task] = []
        for start in range(0, len(ids), limit):  # assigned and running share an index
            page = await self.get_many(ids[start:start + limit])
            tasks += [t for t in page if state is None or t.state is state]
            if len(tasks) >= limit:
                break
        return tasks[:limit]

    async def _scan_records(self, *, limit: int, after: str | None) -> builtins.list[Task]:
        prefix = self.keys.tasks()
        get = Get(prefix, end=self.keys.task(after)) if after else Get(prefix, prefix=True)
        result = await self.store.range(get, limit=limit, descend=True)
        return [codec.load(kv.value) for kv in result.kvs]

    def count_gets(self, queue: str, revision: int = 0) -> builtins.list[Get]:
        """The reads behind QueueCounts (count_only, at `revision`; 0: the latest)."""
        k = self.keys
        prefixes = [k.pending_priority(queue, p) for p in range(4)] + [
            k.assignments_all(queue), k.delayed_all(queue),
            index_prefix(k, queue, TaskState.SUCCEEDED),
            k.failures(queue), index_prefix(k, queue, TaskState.DEAD),
            index_prefix(k, queue, TaskState.CANCELLED), k.workers(queue)]
        return [Get(p, prefix=True, count_only=True, revision=revision) for p in prefixes]

    @staticmethod
    def counts_of(queue: str, responses: Sequence[RangeResult | int | None],
                  revision: int) -> QueueCounts:
        """QueueCounts from the answers to count_gets, in their order."""
        values = [r.count if isinstance(r, RangeResult) else 0 for r in responses]
        by_priority = {Priority(p).name.lower(): values[p] for p in range(4)}
        running, retrying, succeeded, failed_attempts, dead, cancelled, workers = values[4:11]
        return QueueCounts(queue, by_priority, running, retrying, succeeded, failed_attempts,
                           dead, cancelled, workers, revision=revision)

    async def counts(self, queue: str) -> QueueCounts:
        """Exact figures for one queue, read at one revision in one round trip."""
        result = await self.store.txn([], self.count_gets(queue))
        return self.counts_of(queue, result.responses, result.revision)

    async def created(self, edges: Sequence[float]) -> builtins.list[int]:
        """How many tasks (still stored) were created in each [edges[i], edges[i + 1])
        (epoch seconds): ids sort by creation time, so one count per id range."""
        gets = [Get(self.keys.task(id_floor(a)), end=self.keys.task(id_floor(b)),
                    count_only=True) for a, b in itertools.pairwise(edges)]
        result = await self.store.txn([], gets)
        return [r.count if isinstance(r, RangeResult) else 0 for r in result.responses]

    async def workers(self, queue: str) -> builtins.list[WorkerInfo]:
        result = await self.store.range_all(Get(self.keys.workers(queue), prefix=True))
        return [WorkerInfo.from_dict(orjson.loads(kv.value)) for kv in result.kvs]

    async def leader(self, queue: str) -> str | None:
        """The node id of the scheduler leading `queue` (None while none does)."""
        result = await self.store.range_all(Get(self.keys.election(queue), prefix=True))
        leader = leader_of(result.kvs)
        return None if leader is None else leader.decode()
