"""A scheduler or a worker on an etcd connection of its own: what `kubetask scheduler` and
`kubetask worker` run. The CLI parses flags and handles signals; this opens and closes etcd,
so the CLI never touches the store.

    async with standalone.worker("127.0.0.1:2379", "default", settings) as worker:
        await worker.start()
        ...
        await worker.stop()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kubetask.client import parse_endpoints
from kubetask.model import EtcdCredentials
from kubetask.scheduler import Scheduler, SchedulerSettings, TermMetrics
from kubetask.store import Keyspace, Store
from kubetask.worker import ExecutorRegistry, Worker, WorkerMetrics, WorkerSettings


@asynccontextmanager
async def _store(endpoints: str, credentials: EtcdCredentials | None) -> AsyncIterator[Store]:
    store = Store(parse_endpoints(endpoints), credentials=credentials)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


@asynccontextmanager
async def scheduler(endpoints: str, namespace: str, settings: SchedulerSettings,
                    metrics: TermMetrics | None = None,
                    credentials: EtcdCredentials | None = None) -> AsyncIterator[Scheduler]:
    """A scheduler (not started) on its own connection, closed on exit."""
    async with _store(endpoints, credentials) as store:
        yield Scheduler(store, Keyspace(namespace=namespace), settings, metrics)


@asynccontextmanager
async def worker(endpoints: str, namespace: str, settings: WorkerSettings,
                 registry: ExecutorRegistry | None = None,
                 metrics: WorkerMetrics | None = None,
                 credentials: EtcdCredentials | None = None) -> AsyncIterator[Worker]:
    """A worker (not started) on its own connection, closed on exit."""
    async with _store(endpoints, credentials) as store:
        yield Worker(store, Keyspace(namespace=namespace), settings, registry, metrics)
