"""The task model: states and their transitions, priorities, stored and public forms."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubetask.errors import TaskStateError, ValidationError
from kubetask.model import TRANSITIONS, Attempt, Priority, Task, TaskState, new_task_id
from tests.factories import make_task


@pytest.mark.parametrize("value,expected", [(0, Priority.LOW), ("3", Priority.URGENT),
                                            ("high", Priority.HIGH), ("Normal", Priority.NORMAL),
                                            (Priority.LOW, Priority.LOW)])
def test_priority_parse_accepts_numbers_and_names(value: object, expected: Priority) -> None:
    assert Priority.parse(value) is expected


@pytest.mark.parametrize("value", [7, -1, "7", "huge", None, True, 1.5, ""])
def test_priority_parse_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationError, match="priority"):
        Priority.parse(value)


def test_terminal_states_have_no_way_out_except_dead_retry() -> None:
    assert TRANSITIONS[TaskState.SUCCEEDED] == frozenset()
    assert TRANSITIONS[TaskState.CANCELLED] == frozenset()
    assert TRANSITIONS[TaskState.DEAD] == frozenset({TaskState.PENDING})


def test_every_state_is_in_the_transition_table() -> None:
    assert set(TRANSITIONS) == set(TaskState)


def test_evolve_refuses_a_transition_outside_the_table() -> None:
    task = make_task(state=TaskState.SUCCEEDED)
    with pytest.raises(TaskStateError, match="succeeded task cannot become running"):
        task.evolve(state=TaskState.RUNNING)


def test_evolve_allows_the_happy_path() -> None:
    task = make_task()
    for state in (TaskState.ASSIGNED, TaskState.RUNNING, TaskState.SUCCEEDED):
        task = task.evolve(state=state)
    assert task.terminal


def test_evolve_copies_every_other_field_and_leaves_the_original_alone() -> None:
    task = make_task(payload={"a": 1}, priority=Priority.HIGH, attempts=2, max_retries=5,
                     history=(Attempt(1, "w1", 42, 1.0, 2.0, "failed", "boom"),))
    after = task.evolve(state=TaskState.ASSIGNED, worker="w2", attempts=3)
    assert (after.state, after.worker, after.attempts) == (TaskState.ASSIGNED, "w2", 3)
    assert after == replace(task, state=TaskState.ASSIGNED, worker="w2", attempts=3)
    assert (task.state, task.worker, task.attempts) == (TaskState.PENDING, None, 2)
    with pytest.raises(AttributeError):
        after.worker = "w3"  # type: ignore[misc]  # still frozen


def test_evolve_refuses_a_field_the_task_does_not_have() -> None:
    with pytest.raises(TypeError, match="no field"):
        make_task().evolve(wrker="w1")


def test_stored_form_round_trips() -> None:
    task = make_task(payload={"a": [1, 2]}, priority=Priority.URGENT, attempts=2,
                     history=(Attempt(1, "w1", 42, 1.0, 2.0, "failed", "boom"),))
    assert Task.from_dict(task.to_dict()) == task


def test_public_form_has_the_documented_fields_and_iso_times() -> None:
    public = make_task(created_at=0.0, started_at=1.5).to_public()
    for field in ("id", "name", "queue", "type", "priority", "state", "attempts", "worker",
                  "result", "error", "created_at", "started_at", "finished_at"):
        assert field in public
    assert public["created_at"] == "1970-01-01T00:00:00Z"
    assert public["started_at"] == "1970-01-01T00:00:01.500000Z"
    assert public["finished_at"] is None
    assert public["state"] == "pending"


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_task_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 24 and i.isalnum() for i in ids)


def test_attempt_numbers_count_the_history_not_the_retry_budget() -> None:
    """A retried dead task's `attempts` starts again; its attempts' numbers never repeat."""
    dead = make_task(state=TaskState.DEAD, attempts=1,
                     history=(Attempt(1, "w1", 42, 1.0, 2.0, "failed", "boom"),))
    again = dead.evolve(state=TaskState.PENDING, attempts=0)
    assert again.attempt_number == 2
    handed_back = again.evolve(history=(*again.history, Attempt(2, "w2", 43, None, 3.0,
                                                                "handed-back", "draining")))
    assert handed_back.attempt_number == 3 and make_task().attempt_number == 1
