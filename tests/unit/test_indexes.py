"""A task's one index entry, chosen by its state: the key of every state, and the moves."""

from __future__ import annotations

import pytest

from kubetask.model import Priority, Task, TaskState
from kubetask.queue.indexes import index_key, index_move, index_prefix, index_put
from kubetask.store import Delete, Keyspace, Put
from tests.factories import make_task

KEYS = Keyspace(namespace="ns")
DUE = 1_700_000_000.25
LEASE = 0x7A3F  # the lease an assigned task is claimed under (ignored in other states)

# Every state with the fields a task has in it, and the key of its index entry.
CASES = [
    (TaskState.PENDING, {}, "pending/1/"),  # urgent (3) sorts as 0: high (2) as 1
    (TaskState.PENDING, {"run_at": DUE}, "delayed/001700000000250/"),  # a scheduled start
    (TaskState.RETRYING, {"run_at": DUE}, "delayed/001700000000250/"),
    (TaskState.ASSIGNED, {"worker": "w1"}, "assign/w1/7a3f/"),
    (TaskState.RUNNING, {"worker": "w1"}, "assign/w1/7a3f/"),
    (TaskState.SUCCEEDED, {"worker": "w1"}, "done/succeeded/"),
    (TaskState.DEAD, {}, "done/dead/"),
    (TaskState.CANCELLED, {"run_at": DUE}, "done/cancelled/"),
]


def task_in(state: TaskState, **fields: object) -> Task:
    return make_task(queue="q", priority=Priority.HIGH, state=state, **fields)


def test_the_cases_cover_every_state() -> None:
    assert {state for state, _, _ in CASES} == set(TaskState)


@pytest.mark.parametrize(("state", "fields", "where"), CASES)
def test_index_key_of_every_state(state: TaskState, fields: dict[str, object],
                                  where: str) -> None:
    task = task_in(state, **fields)
    assert index_key(KEYS, task, LEASE) == f"/kubetask/ns/q/q/{where}{task.id}"


# A scheduled pending task waits in the delayed index: the lists and counts of pending
# tasks read the pending index only, so it is left out here.
@pytest.mark.parametrize(("state", "fields", "where"), [c for c in CASES if c[:2] != (
    TaskState.PENDING, {"run_at": DUE})])
def test_the_key_of_a_state_is_under_the_prefix_read_for_it(
        state: TaskState, fields: dict[str, object], where: str) -> None:
    assert index_key(KEYS, task_in(state, **fields), LEASE).startswith(
        index_prefix(KEYS, "q", state))


@pytest.mark.parametrize(("state", "fields", "missing"), [
    (TaskState.RETRYING, {}, "run_at"),
    (TaskState.ASSIGNED, {}, "worker and lease"),
    (TaskState.RUNNING, {"worker": "w1"}, "worker and lease"),  # no lease given
])
def test_a_state_without_what_its_key_needs_is_refused(state: TaskState, fields: dict[str, object],
                                                       missing: str) -> None:
    with pytest.raises(ValueError, match=f"without a {missing}"):
        index_key(KEYS, task_in(state, **fields))


def test_done_entries_hold_nothing_the_others_hold_the_value() -> None:
    for state, fields, _ in CASES:
        put = index_put(KEYS, task_in(state, **fields), b"record", LEASE)
        assert put.value == (b"" if state in (TaskState.SUCCEEDED, TaskState.DEAD,
                                              TaskState.CANCELLED) else b"record")


def test_index_move_deletes_the_old_entry_and_puts_the_new_one() -> None:
    delayed = task_in(TaskState.RETRYING, run_at=DUE)
    pending = delayed.evolve(state=TaskState.PENDING, run_at=None)
    assert index_move(KEYS, delayed, pending, b"r") == (
        Delete(f"/kubetask/ns/q/q/delayed/001700000000250/{delayed.id}"),
        Put(f"/kubetask/ns/q/q/pending/1/{delayed.id}", b"r"))


def test_an_end_moves_from_the_claim_the_assignment_is_the_entry() -> None:
    running = task_in(TaskState.RUNNING, worker="w1")
    claim = KEYS.assignment("q", "w1", LEASE, running.id)
    retrying = running.evolve(state=TaskState.RETRYING, run_at=DUE)
    assert claim == index_key(KEYS, running, LEASE)
    assert KEYS.claim_of(claim) == ("w1", LEASE)
    assert index_move(KEYS, claim, retrying, b"r") == (
        Delete(f"/kubetask/ns/q/q/assign/w1/7a3f/{running.id}"),
        Put(f"/kubetask/ns/q/q/delayed/001700000000250/{running.id}", b"r"))


def test_index_move_from_a_key_read_from_the_index() -> None:
    pending = task_in(TaskState.PENDING)
    assigned = pending.evolve(state=TaskState.ASSIGNED, worker="w2")
    read = index_key(KEYS, pending)
    assert index_move(KEYS, read, assigned, b"t", LEASE) == (
        Delete(read), Put(f"/kubetask/ns/q/q/assign/w2/7a3f/{pending.id}", b"t"))
