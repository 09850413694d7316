"""The lifecycle every long-running component shares: async start(), stop(), wait(), and
`async with`."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Protocol, Self


class Service(Protocol):
    """A long-running component (scheduler, worker, dashboard, a store connection).

    - start(): returns once it runs (its background work goes on in tasks of its own);
    - stop(): ends it and releases what it holds; safe to call twice, or after a failure;
    - wait(): until it ends by itself, raising its failure; cancelling the waiter leaves the
      service running. A service a Supervisor may restart starts afresh after stop().
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def wait(self) -> None: ...


class Lifecycle:
    """`async with` for a class that defines start() and stop()."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


class BackgroundService(Lifecycle):
    """A service that is one asyncio task running `_run()`: start() creates the task (again
    after stop()), stop() cancels it, wait() awaits it. A failure is wait()'s to report:
    stop() does not raise it again."""

    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    def _task_name(self) -> str:
        return type(self).__name__

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._task_name())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: reported by wait(), or by the owner's log

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)
