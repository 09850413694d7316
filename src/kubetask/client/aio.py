"""The asyncio SDK: submit (one and many), get, wait, list, cancel, retry, stats, queue defaults."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

from kubetask.client.feed import TaskFeed, until_terminal
from kubetask.client.spec import TaskSpec
from kubetask.client.stats import QueueStats, Throughput, history_window, throughput_of
from kubetask.errors import AmbiguousTaskId, QueueNotFound, TaskNotFound, ValidationError
from kubetask.model import (
    HISTORY_BUCKET_SECONDS,
    HISTORY_BUCKETS,
    TASK_ID_LENGTH,
    EtcdCredentials,
    QueueConfig,
    Task,
    TaskState,
    WorkerInfo,
    parse_task_id,
    validate_name,
)
from kubetask.queue import Drains, Producer, QueueConfigs, Reader, SnapshotReader
from kubetask.service import Lifecycle
from kubetask.store import Keyspace, Store

_CANDIDATES_SHOWN = 5  # ids an ambiguous prefix's error lists


def parse_endpoints(endpoints: str | Sequence[str]) -> builtins.list[str]:
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    result = [e.strip() for e in items if e.strip()]
    if not result:
        raise ValidationError("--etcd-endpoints is empty; give host:port[,host:port...]")
    return result


class AsyncClient(Lifecycle):
    """Talks to etcd directly; no server in between.

        async with AsyncClient("localhost:2379") as client:
            task = await client.submit("echo", {"duration": 0.1})
            done = await client.wait([task.id])
    """

    def __init__(self, endpoints: str | Sequence[str] = "localhost:2379", *,
                 namespace: str = "default", prefix: str = "/kubetask/",
                 timeout: float = 5.0, connect_timeout: float | None = None,
                 credentials: EtcdCredentials | None = None) -> None:
        """`connect_timeout`: connect() fails unless etcd answers within it (default: no
        check; the first call waits for etcd up to `timeout`). `credentials`: TLS files and
        etcd user (`EtcdCredentials.from_env(os.environ)` reads the KUBETASK_ETCD_* ones)."""
        self._keys = Keyspace(prefix, validate_name("namespace", namespace))
        self._store = Store(parse_endpoints(endpoints), timeout=timeout,
                            connect_timeout=connect_timeout, credentials=credentials)
        self._producer = Producer(self._store, self._keys)
        self._reader = Reader(self._store, self._keys)
        self._queue_configs = QueueConfigs(self._store, self._keys)
        self._drains = Drains(self._store, self._keys)

    @property
    def namespace(self) -> str:
        """The namespace this client reads and writes (its tasks and queues)."""
        return self._keys.namespace

    async def start(self) -> None:
        await self._store.start()

    async def stop(self) -> None:
        await self._store.stop()

    connect = start
    close = stop

    # --- writes ------------------------------------------------------------------
    async def submit(self, type: str, payload: Any = None, **options: Any) -> Task:
        """Submit one task; options are TaskSpec fields (queue, priority, key, ...)."""
        return (await self.submit_many([TaskSpec(type, payload, **options)]))[0]

    async def submit_many(self, specs: Iterable[TaskSpec]) -> builtins.list[Task]:
        """Validate all, then store all in batched transactions (none stored if any is bad)."""
        now = time.time()
        tasks = [spec.build(now) for spec in specs]
        return await self._producer.submit(tasks)

    async def cancel(self, task_id: str) -> Task:
        return await self._producer.cancel(validate_name("task id", task_id))

    async def retry(self, task_id: str) -> Task:
        return await self._producer.retry(validate_name("task id", task_id))

    async def drain_worker(self, queue: str, worker: str) -> bool:
        """Ask a worker to drain without exiting (scale-in): the scheduler stops assigning
        to it at once; it hands back the tasks it has not started and finishes the others.
        True when asked now, False when it was already; WorkerNotFound when it is not
        registered. The request goes with the worker (its lease)."""
        return await self._drains.request(validate_name("queue", queue),
                                          validate_name("worker", worker))

    async def undrain_worker(self, queue: str, worker: str) -> bool:
        """Undo drain_worker: the worker takes tasks again. True when a request was undone."""
        return await self._drains.cancel(validate_name("queue", queue),
                                         validate_name("worker", worker))

    async def draining_workers(self, queue: str) -> builtins.list[str]:
        """The workers of `queue` asked to drain by drain_worker (and still registered)."""
        return await self._drains.workers(validate_name("queue", queue))

    # --- reads -------------------------------------------------------------------
    async def resolve_id(self, task_id: str) -> str:
        """The full id of the one task whose id starts with `task_id`, as git takes a
        commit prefix: 6 to 24 hex characters. A full id is returned as it is, unread.

        Raises ValidationError when it could not be an id (or a prefix is too short),
        AmbiguousTaskId (a ValidationError) when several tasks match, TaskNotFound when
        none does. One bounded range read; nothing is written."""
        prefix = parse_task_id(task_id)
        if len(prefix) == TASK_ID_LENGTH:
            return prefix
        ids, count = await self._reader.ids_with_prefix(prefix, limit=_CANDIDATES_SHOWN)
        if count == 1:
            return ids[0]
        if count == 0:
            raise TaskNotFound(f"no task id starts with {prefix!r} in namespace "
                               f"{self._keys.namespace!r}")
        more = f", and {count - len(ids)} more" if count > len(ids) else ""
        raise AmbiguousTaskId(f"task id prefix {prefix!r} is ambiguous: it matches {count} "
                              f"tasks ({', '.join(ids)}{more}); give more characters of the id",
                              ids)

    async def get(self, task_id: str) -> Task:
        return await self._reader.get(validate_name("task id", task_id))

    async def get_by_key(self, idempotency_key: str, *, queue: str = "default") -> Task:
        """The task submitted to `queue` with `idempotency_key` (TaskNotFound: none, or it
        was deleted since)."""
        return await self._reader.by_idempotency_key(
            validate_name("queue", queue), validate_name("idempotency key", idempotency_key))

    async def get_many(self, task_ids: Sequence[str]) -> builtins.list[Task]:
        """The tasks of `task_ids` that exist (missing ones are left out), in order."""
        return await self._reader.get_many([validate_name("task id", i) for i in task_ids])

    async def list(self, *, queue: str | None = None, state: TaskState | str | None = None,
                   limit: int = 100, after: str | None = None) -> builtins.list[Task]:
        if queue is not None:
            validate_name("queue", queue)
        if after is not None:
            validate_name("task id", after)
        if isinstance(state, str):
            try:
                state = TaskState(state)
            except ValueError:
                raise ValidationError(f"unknown state {state!r}: use one of "
                                      f"{', '.join(s.value for s in TaskState)}") from None
        return await self._reader.list(queue=queue, state=state, limit=limit, after=after)

    async def queue_config(self, queue: str) -> QueueConfig:
        """A queue's defaults (retry policy); unset fields fall back to the workers' flags."""
        return await self._queue_configs.get(validate_name("queue", queue))

    async def configure_queue(self, queue: str, *, max_retries: int | None = None,
                              retry_base: float | None = None,
                              retry_cap: float | None = None) -> QueueConfig:
        """Set a queue's defaults for tasks that do not set their own (None: unchanged)."""
        return await self._queue_configs.update(
            validate_name("queue", queue), max_retries=max_retries,
            retry_base_seconds=retry_base, retry_cap_seconds=retry_cap)

    async def set_queue_config(self, queue: str, config: QueueConfig) -> None:
        """Replace a queue's defaults with `config` (its unset fields: the workers' flags)."""
        await self._queue_configs.put(validate_name("queue", queue), config)

    async def reset_queue_config(self, queue: str) -> None:
        """Forget a queue's defaults: the workers' flags apply again."""
        await self._queue_configs.reset(validate_name("queue", queue))

    async def queues(self) -> builtins.list[str]:
        return await self._reader.queues()

    async def require_queue(self, queue: str) -> None:
        """QueueNotFound unless a task, a worker or settings ever named `queue` here, or a
        scheduler leads it (for callers that would otherwise show zeros for a typo)."""
        known = await self._reader.queues()
        if validate_name("queue", queue) not in known and await self.leader(queue) is None:
            raise QueueNotFound(f"no queue {queue!r} in namespace {self.namespace!r} "
                                f"(queues there: {', '.join(known) or 'none yet'}); check "
                                "the queue name and the namespace")

    async def workers(self, queue: str) -> builtins.list[WorkerInfo]:
        """The workers registered on `queue`, with their load as of their last heartbeat."""
        return await self._reader.workers(validate_name("queue", queue))

    async def leader(self, queue: str) -> str | None:
        """The node id of the scheduler leading `queue` (None while none does)."""
        return await self._reader.leader(validate_name("queue", queue))

    async def stats(self, queue: str | None = None, *,
                    known: bool = False) -> builtins.list[QueueStats]:
        """Each queue's figures (or `queue`'s), all read at one etcd revision. `known`:
        QueueNotFound for a `queue` nothing ever named (a typo), instead of zeros."""
        snapshots = await SnapshotReader(self._store, self._keys).read(
            None if queue is None else [validate_name("queue", queue)])
        stats = [QueueStats.of(s) for s in snapshots]
        if known and queue is not None and not any(s.counts.total or s.workers for s in stats):
            await self.require_queue(queue)
        return stats

    async def throughput(self) -> Throughput:
        """Tasks submitted, succeeded and failed attempts per 5 s over the last 2 minutes."""
        now = time.time()
        stats = await self.stats()
        first, end = history_window(stats, now, HISTORY_BUCKETS)
        edges = [b * HISTORY_BUCKET_SECONDS for b in range(first, end + 1)]
        return throughput_of(stats, (first, end), await self._reader.created(edges))

    async def wait(self, task_ids: Sequence[str], *, timeout: float | None = None) -> builtins.list[Task]:
        """Block until every task is terminal; returns them in the given order. Follows the
        records across etcd compactions (reads them again); TaskNotFound for a task that
        does not exist (or is deleted meanwhile)."""
        ids = list(dict.fromkeys(task_ids))
        async with asyncio.timeout(timeout):
            tasks = await until_terminal(self._store, self._keys, ids)
        return [tasks[i] for i in ids]

    async def task_changes(self, *, after_revision: int | None = None,
                           only: Container[str] | None = None,
                           resync: Callable[[], None] | None = None) -> TaskFeed:
        """A feed of task changes made after `after_revision` (default: from now on);
        with `only`, of those task ids; with `resync`, one that survives a compaction
        (see TaskFeed)."""
        revision = await self._store.revision() if after_revision is None else after_revision
        return TaskFeed(self._store, self._keys, revision + 1, only, resync=resync)
