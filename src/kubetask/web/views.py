"""The JSON bodies the server sends: a task, a task summary, a stats snapshot, errors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from kubetask.client import QueueStats
from kubetask.model import Task
from kubetask.model.task import iso

ERROR_PREVIEW = 300  # characters of a task's error in summaries


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status,
                        content_type="application/json")


def error_response(status: int, message: str, **headers: str) -> web.Response:
    response = json_response({"error": message}, status)
    response.headers.update(headers)
    return response


def task_summary(task: Task) -> dict[str, Any]:
    """A task without payload, result and history: what lists and live updates need."""
    error = task.error
    if error is not None and len(error) > ERROR_PREVIEW:
        error = error[:ERROR_PREVIEW] + "…"
    return {
        "id": task.id,
        "name": task.name,
        "queue": task.queue,
        "type": task.type,
        "priority": int(task.priority),
        "priority_name": task.priority.name.lower(),
        "state": task.state.value,
        "attempts": task.attempts,
        "max_retries": task.max_retries,
        "worker": task.worker,
        "error": error,
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "run_at": iso(task.run_at),
    }


def stats_body(namespace: str, stats: Sequence[QueueStats]) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "time": iso(time.time()),
        "queues": [s.to_dict() for s in stats],
    }
