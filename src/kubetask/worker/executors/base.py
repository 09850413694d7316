"""Executors: what runs a task of one type. Functions or classes, sync or async."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubetask.model import Task

MARK = "__kubetask_executor__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class TaskContext:
    """What an executor may ask while it runs: is it cancelled, how long it has left."""

    task: Task
    worker: str
    token: int
    deadline: float | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def attempt(self) -> int:
        return self.task.attempts

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or timed out: a sync executor should return."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def sleep(self, seconds: float) -> bool:
        """Sleep in a sync executor, waking early on cancellation. True if cancelled."""
        return self._cancelled.wait(seconds)


class Executor:
    """Base for class-based (stateful) executors: set `type`, override `run`.

    `run` may be a plain method (it runs in a worker thread) or `async def` (it runs on
    the worker's event loop and is cancelled cooperatively). Raising marks the attempt
    failed; the return value, JSON-serializable, becomes the task's result.
    """

    type: str = ""

    def run(self, task: Task, ctx: TaskContext) -> Any:
        raise NotImplementedError

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.run)


class FunctionExecutor(Executor):
    """Wraps a decorated function taking (task) or (task, ctx)."""

    def __init__(self, type_: str, fn: Callable[..., Any]) -> None:
        self.type = type_
        self.fn = fn
        self._wants_ctx = len(inspect.signature(fn).parameters) >= 2
        self._async = inspect.iscoroutinefunction(fn)

    @property
    def is_async(self) -> bool:
        return self._async

    def run(self, task: Task, ctx: TaskContext) -> Any:
        return self.fn(task, ctx) if self._wants_ctx else self.fn(task)


def executor(type_: str) -> Callable[[F], F]:
    """Mark a function (task) -> result, or an Executor subclass, as the executor of a type.

        @kubetask.executor("resize-image")
        def resize(task):
            return {"size": task.payload["width"]}

    A worker started with `--import MODULE` registers every marked object of MODULE.
    """

    def mark(target: F) -> F:
        setattr(target, MARK, type_)
        return target

    return mark


async def call_async(ex: Executor, task: Task, ctx: TaskContext) -> Any:
    result = ex.run(task, ctx)
    if asyncio.iscoroutine(result):
        return await result
    return result
