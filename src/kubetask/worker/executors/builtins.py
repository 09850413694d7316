"""The built-in task types of the seed: echo, compute, unreliable; and noop for benchmarks."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from kubetask.errors import ExecutorError
from kubetask.model import Task
from kubetask.worker.executors.base import Executor, TaskContext


def _duration(task: Task, default: float = 1.0) -> float:
    payload = task.payload if isinstance(task.payload, dict) else {}
    value = payload.get("duration", default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ExecutorError(f"payload.duration must be a non-negative number, got {value!r}")
    return float(value)


class EchoExecutor(Executor):
    """Sleeps payload.duration seconds (default 1.0) and returns the payload."""

    type = "echo"

    def run(self, task: Task, ctx: TaskContext) -> Any:
        if ctx.sleep(_duration(task)):
            raise ExecutorError("cancelled while sleeping")
        return task.payload


class ComputeExecutor(Executor):
    """CPU work (SHA-256 rounds) for payload.duration seconds (default 1.0); returns a checksum."""

    type = "compute"

    def run(self, task: Task, ctx: TaskContext) -> Any:
        end = time.monotonic() + _duration(task)
        digest = hashlib.sha256(task.id.encode()).digest()
        rounds = 0
        while time.monotonic() < end and not ctx.cancelled:
            for _ in range(1000):
                digest = hashlib.sha256(digest).digest()
            rounds += 1000
        return {"rounds": rounds, "checksum": digest.hex()[:16]}


class UnreliableExecutor(Executor):
    """Fails attempts 1 and 2, succeeds on attempt 3 (for testing retries)."""

    type = "unreliable"

    def run(self, task: Task, ctx: TaskContext) -> Any:
        if ctx.attempt < 3:
            raise ExecutorError(f"unreliable task fails attempt {ctx.attempt} on purpose")
        return {"attempt": ctx.attempt}


class NoopExecutor(Executor):
    """Returns at once (benchmarks)."""

    type = "noop"

    async def run(self, task: Task, ctx: TaskContext) -> Any:
        return None


BUILTINS: tuple[type[Executor], ...] = (EchoExecutor, ComputeExecutor, UnreliableExecutor,
                                        NoopExecutor)
