"""The blocking SDK: the asyncio client driven from a private event loop thread."""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from kubetask.client.aio import AsyncClient
from kubetask.client.spec import TaskSpec
from kubetask.client.stats import QueueStats
from kubetask.model import EtcdCredentials, QueueConfig, Task, TaskState, WorkerInfo

T = TypeVar("T")


class Client:
    """kubetask.Client(endpoints="localhost:2379"): submit, get, wait, list, cancel, retry.

        with kubetask.Client() as client:
            task = client.submit("echo", {"duration": 0.1}, priority="high")
            print(client.wait([task.id])[0].state)
    """

    def __init__(self, endpoints: str | Sequence[str] = "localhost:2379", *,
                 namespace: str = "default", prefix: str = "/kubetask/",
                 timeout: float = 5.0, credentials: EtcdCredentials | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="kubetask-client")
        self._thread.start()
        self._aio = AsyncClient(endpoints, namespace=namespace, prefix=prefix, timeout=timeout,
                                credentials=credentials)
        self._run(self._aio.connect())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._aio.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def namespace(self) -> str:
        return self._aio.namespace

    def submit(self, type: str, payload: Any = None, **options: Any) -> Task:
        return self._run(self._aio.submit(type, payload, **options))

    def submit_many(self, specs: Iterable[TaskSpec]) -> builtins.list[Task]:
        return self._run(self._aio.submit_many(list(specs)))

    def resolve_id(self, task_id: str) -> str:
        """The full id of the one task whose id starts with `task_id` (see AsyncClient)."""
        return self._run(self._aio.resolve_id(task_id))

    def get(self, task_id: str) -> Task:
        return self._run(self._aio.get(task_id))

    def wait(self, task_ids: Sequence[str], *, timeout: float | None = None) -> builtins.list[Task]:
        return self._run(self._aio.wait(task_ids, timeout=timeout))

    def list(self, *, queue: str | None = None, state: TaskState | str | None = None,
             limit: int = 100, after: str | None = None) -> builtins.list[Task]:
        return self._run(self._aio.list(queue=queue, state=state, limit=limit, after=after))

    def cancel(self, task_id: str) -> Task:
        return self._run(self._aio.cancel(task_id))

    def retry(self, task_id: str) -> Task:
        return self._run(self._aio.retry(task_id))

    def stats(self, queue: str | None = None) -> builtins.list[QueueStats]:
        return self._run(self._aio.stats(queue))

    def queues(self) -> builtins.list[str]:
        return self._run(self._aio.queues())

    def workers(self, queue: str) -> builtins.list[WorkerInfo]:
        return self._run(self._aio.workers(queue))

    def leader(self, queue: str) -> str | None:
        return self._run(self._aio.leader(queue))

    def queue_config(self, queue: str) -> QueueConfig:
        return self._run(self._aio.queue_config(queue))

    def configure_queue(self, queue: str, *, max_retries: int | None = None,
                        retry_base: float | None = None,
                        retry_cap: float | None = None) -> QueueConfig:
        return self._run(self._aio.configure_queue(queue, max_retries=max_retries,
                                                   retry_base=retry_base, retry_cap=retry_cap))

    def reset_queue_config(self, queue: str) -> None:
        self._run(self._aio.reset_queue_config(queue))
