"""Executors used by the integration tests (also loadable with `--import`)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import kubetask
from kubetask import Task, TaskContext


class ConcurrencyProbe(kubetask.Executor):
    """Sleeps payload.duration and records the most tasks it saw running at once."""

    type = "probe"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0
        self.order: list[Any] = []
        self.by_worker: dict[str, int] = {}

    def run(self, task: Task, ctx: TaskContext) -> Any:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
            self.order.append(task.payload.get("mark") if isinstance(task.payload, dict) else None)
            self.by_worker[ctx.worker] = self.by_worker.get(ctx.worker, 0) + 1
        try:
            duration = task.payload.get("duration", 0.0) if isinstance(task.payload, dict) else 0
            time.sleep(duration)
        finally:
            with self.lock:
                self.current -= 1
        return {"worker": ctx.worker}


class SlowAsync(kubetask.Executor):
    """An async executor that sleeps payload.duration (cancellable)."""

    type = "slow-async"

    async def run(self, task: Task, ctx: TaskContext) -> Any:
        await asyncio.sleep(task.payload["duration"])
        return "done"


@kubetask.executor("greet")
def greet(task: Task) -> dict[str, str]:
    """A user executor in the decorator style, loaded by `kubetask worker --import`."""
    return {"greeting": f"hello {task.payload['who']}"}


@kubetask.executor("fail-always")
def fail_always(task: Task) -> None:
    raise RuntimeError("this executor always fails")
