"""Executors for the fault tests (`kubetask worker --import tests.faults.executors`).

Each run appends what it did to the per-test sink file named by $KUBETASK_FAULT_SINK, one
JSON line per event: (task id, attempt, worker, fencing token). The sink is the "side
effect" a real task would have; the tests then check that only the attempt whose token
the task record committed is the accepted one (the fenced sink).

Payload (all optional):
    duration     seconds the first run takes (default 0)
    then         seconds a later run takes (the task has history: it was lost, handed
                 back or retried), so a test can make only the first run long
    cooperative  sleep with ctx.sleep() and stop when cancelled (default True); False
                 ignores cancellation, like CPU-bound code that never checks
    fail         raise after sleeping (every attempt fails)
    fail_unless  a file path: attempts fail while that file does not exist
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from kubetask import Task, TaskContext, executor

SINK_ENV = "KUBETASK_FAULT_SINK"


def record(event: str, task: Task, ctx: TaskContext, **extra: Any) -> None:
    path = os.environ.get(SINK_ENV)
    if not path:
        return
    line = json.dumps({"ev": event, "task": task.id, "attempt": ctx.attempt,
                       "worker": ctx.worker, "token": ctx.token, "t": time.time(), **extra})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())  # one write() per line: lines never interleave
    finally:
        os.close(fd)


def _plan(task: Task) -> tuple[float, bool, bool]:
    payload = task.payload if isinstance(task.payload, dict) else {}
    duration = float(payload.get("duration", 0))
    if task.history and "then" in payload:
        duration = float(payload["then"])
    fail = bool(payload.get("fail", False))
    if "fail_unless" in payload:
        fail = not os.path.exists(payload["fail_unless"])
    return duration, bool(payload.get("cooperative", True)), fail


@executor("fault")
def fault(task: Task, ctx: TaskContext) -> dict[str, Any]:
    duration, cooperative, fail = _plan(task)
    record("start", task, ctx)
    if cooperative:
        if ctx.sleep(duration):
            record("stopped", task, ctx)
            raise RuntimeError("stopped: cancelled or timed out")
    else:
        time.sleep(duration)
    if fail:
        record("failed", task, ctx)
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    record("done", task, ctx)
    return {"worker": ctx.worker, "token": ctx.token, "attempt": ctx.attempt}


@executor("fault-async")
async def fault_async(task: Task, ctx: TaskContext) -> dict[str, Any]:
    duration, _, fail = _plan(task)
    record("start", task, ctx)
    try:
        await asyncio.sleep(duration)
    except asyncio.CancelledError:
        record("stopped", task, ctx)
        raise
    if fail:
        record("failed", task, ctx)
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    record("done", task, ctx)
    return {"worker": ctx.worker, "token": ctx.token, "attempt": ctx.attempt}
