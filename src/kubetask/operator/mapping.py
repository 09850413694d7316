"""Resources <-> engine values, pure: a Task's spec as a TaskSpec, an engine Task as a Task's
status, a TaskQueue's spec as a QueueConfig. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from kubetask.client import TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import QueueConfig, Task, TaskState
from kubetask.model.task import iso

RESULT_STATUS_BYTES = 4096  # a result larger than this as JSON is shown truncated
ERROR_STATUS_CHARS = 4096

PHASES = {state: state.value.capitalize() for state in TaskState}
FINISHED_PHASES = frozenset({"Succeeded", "Dead", "Cancelled"})
INVALID_PHASE = "Invalid"  # the operator refused the spec: nothing was queued
# The Finished condition's message when the task has no error to say instead.
_ENDED = {"Succeeded": "the task succeeded", "Dead": "the task failed for good",
          "Cancelled": "the task was cancelled"}


def task_spec(name: str, uid: str, spec: Mapping[str, Any]) -> TaskSpec:
    """The TaskSpec of a Task resource; `build()` checks it (ValidationError says what)."""
    timeout = spec.get("timeoutSeconds")
    return TaskSpec(
        type=spec["type"], payload=spec.get("payload"), queue=spec.get("queue", "default"),
        name=name, priority=spec.get("priority", "normal"),
        max_retries=spec.get("maxRetries"),
        timeout=None if timeout is None else float(timeout), key=uid)


def truncated_result(result: Any) -> Any:
    """The result as it is when its JSON has at most RESULT_STATUS_BYTES, else a note."""
    if result is None:
        return None
    data = orjson.dumps(result)
    if len(data) <= RESULT_STATUS_BYTES:
        return result
    return {"truncated": True, "bytes": len(data),
            "head": data[:RESULT_STATUS_BYTES].decode(errors="ignore")}


def task_status(task: Task, generation: int | None) -> dict[str, Any]:
    """The Task resource's status for the engine's task (every field, None clears one)."""
    phase = PHASES[task.state]
    error = task.error[:ERROR_STATUS_CHARS] if task.error else None
    status: dict[str, Any] = {
        "phase": phase, "taskID": task.id, "attempts": task.attempts, "worker": task.worker,
        "startTime": iso(task.started_at), "completionTime": iso(task.finished_at),
        "result": truncated_result(task.result), "error": error,
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def condition(type_: str, status: bool, reason: str, message: str, now: str,
              generation: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"type": type_, "status": "True" if status else "False", "reason": reason,
              "message": message, "lastTransitionTime": now}
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def keep_transitions(old: list[dict[str, Any]] | None,
                     new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`new` with each condition's lastTransitionTime from `old` when its status is the same."""
    before = {c.get("type"): c for c in old or []}
    for cond in new:
        prior = before.get(cond["type"])
        if prior is not None and prior.get("status") == cond["status"]:
            cond["lastTransitionTime"] = prior.get("lastTransitionTime",
                                                   cond["lastTransitionTime"])
    return new


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `new` whose value differs from `old`'s (a status patch of those only).

    None is "absent" (a merge patch's null deletes the field, so the stored status never
    holds one): it is a change only while `old` still has a value there."""
    before = old or {}
    return {key: value for key, value in new.items() if before.get(key) != value}


def finished_condition(task: Task, now: str, generation: int | None) -> dict[str, Any]:
    """`Finished`: True once the task ended (its reason is the phase)."""
    phase = PHASES[task.state]
    if phase in FINISHED_PHASES:
        message = task.error or _ENDED[phase]
        return condition("Finished", True, phase, message[:ERROR_STATUS_CHARS], now, generation)
    return condition("Finished", False, phase, f"the task is {phase.lower()}", now, generation)


def queue_config(spec: Mapping[str, Any]) -> QueueConfig:
    """A TaskQueue's retry defaults as the engine's QueueConfig (unset: the workers')."""
    retry = spec.get("retry") or {}
    base, cap = retry.get("backoffBaseSeconds"), retry.get("backoffCapSeconds")
    try:
        return QueueConfig(max_retries=retry.get("maxRetries"),
                           retry_base_seconds=None if base is None else float(base),
                           retry_cap_seconds=None if cap is None else float(cap))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"spec.retry: {exc}") from exc
