"""The operator's pure mapping: a Task resource's spec as a TaskSpec, an engine Task as a
Task's status, a TaskQueue's retry as a QueueConfig."""

from __future__ import annotations

import pytest

from kubetask.errors import ValidationError
from kubetask.model import Priority, Task, TaskState
from kubetask.operator import mapping


def test_task_spec_maps_every_field_and_keys_by_uid() -> None:
    spec = mapping.task_spec("t1", "uid-1", {"type": "echo", "queue": "q", "priority": "high",
                                             "payload": {"a": 1}, "maxRetries": 2,
                                             "timeoutSeconds": 30})
    task = spec.build(now=1000.0)
    assert (task.name, task.idempotency_key, task.queue, task.type) == ("t1", "uid-1", "q", "echo")
    assert (task.priority, task.max_retries, task.timeout_seconds) == (Priority.HIGH, 2, 30.0)
    assert mapping.task_spec("t", "u", {"type": "echo", "priority": 3}).build().priority == 3


def test_a_payload_over_the_cap_is_refused_naming_it() -> None:
    spec = mapping.task_spec("t", "u", {"type": "echo", "payload": "x" * (129 * 1024)})
    with pytest.raises(ValidationError, match="payload"):
        spec.build()


def test_status_of_a_finished_task_and_a_truncated_result() -> None:
    task = Task(id="a" * 24, queue="q", type="echo", state=TaskState.SUCCEEDED, attempts=1,
                worker="w1", started_at=10.0, finished_at=11.5,
                result={"blob": "y" * (mapping.RESULT_STATUS_BYTES + 10)})
    status = mapping.task_status(task, 1)
    assert status["phase"] == "Succeeded" and status["taskID"] == "a" * 24
    assert status["startTime"] == "1970-01-01T00:00:10Z"
    assert status["completionTime"] == "1970-01-01T00:00:11.500000Z"
    assert status["result"]["truncated"] is True
    assert len(status["result"]["head"]) <= mapping.RESULT_STATUS_BYTES
    assert status["observedGeneration"] == 1
    small = mapping.task_status(Task(id="b" * 24, queue="q", type="echo", result=[1]), None)
    assert small["result"] == [1] and small["phase"] == "Pending"
    assert "observedGeneration" not in small


def test_queue_config_from_retry_and_its_refusal() -> None:
    config = mapping.queue_config({"retry": {"maxRetries": 3, "backoffBaseSeconds": 0.5,
                                             "backoffCapSeconds": 2}})
    assert (config.max_retries, config.retry_base_seconds, config.retry_cap_seconds) == (3, 0.5, 2.0)
    assert mapping.queue_config({}).max_retries is None
    with pytest.raises(ValidationError, match="retry cap"):
        mapping.queue_config({"retry": {"backoffBaseSeconds": 5, "backoffCapSeconds": 1}})


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    old = [mapping.condition("Ready", True, "A", "m", "2026-01-01T00:00:00Z")]
    same = mapping.keep_transitions(old, [mapping.condition("Ready", True, "B", "n", "later")])
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and same[0]["reason"] == "B"
    flipped = mapping.keep_transitions(old, [mapping.condition("Ready", False, "C", "o", "now")])
    assert flipped[0]["lastTransitionTime"] == "now"


def test_changed_fields_keeps_only_what_differs() -> None:
    old = {"pending": 3, "succeeded": 7, "conditions": [{"type": "Ready", "status": "True"}],
           "kopf": {"progress": {}}}
    assert mapping.changed_fields(old, {"pending": 3, "succeeded": 7, "conditions": [
        {"type": "Ready", "status": "True"}]}) == {}
    assert mapping.changed_fields(old, {"pending": 2, "succeeded": 7, "running": 1}) == {
        "pending": 2, "running": 1}
    assert mapping.changed_fields(None, {"pending": 0}) == {"pending": 0}


def test_a_none_is_a_change_only_while_the_stored_status_has_the_field() -> None:
    """A merge patch's null deletes the field, so the stored status never holds a None:
    sending it again each refresh was a PATCH every 5 s for an idle TaskQueue."""
    assert mapping.changed_fields({"pending": 0}, {"pending": 0, "lastScaleTime": None}) == {}
    assert mapping.changed_fields({"lastScaleTime": "2026-11-29T09:00:00Z"},
                                  {"lastScaleTime": None}) == {"lastScaleTime": None}


@pytest.mark.parametrize(("state", "message"), [
    (TaskState.SUCCEEDED, "the task succeeded"), (TaskState.CANCELLED, "the task was cancelled"),
    (TaskState.DEAD, "the task failed for good"), (TaskState.RUNNING, "the task is running"),
])
def test_the_finished_condition_reads_as_english(state: TaskState, message: str) -> None:
    """`kubectl describe task` showed "the task ended succeeded"."""
    task = Task(id="c" * 24, queue="q", type="echo", state=state)
    assert mapping.finished_condition(task, "2026-01-01T00:00:00Z", 1)["message"] == message
