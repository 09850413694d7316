"""An attempt's states on its worker: one transition table, checked; outcomes as values."""

from __future__ import annotations

import itertools

import pytest

from kubetask.model import (
    ATTEMPT_TRANSITIONS,
    AttemptState,
    AttemptStateError,
    Outcome,
    OutcomeKind,
    check_attempt_transition,
)
from kubetask.model.attempt import CANCELLED

A = AttemptState


def walk(*states: AttemptState) -> None:
    for current, target in itertools.pairwise(states):
        check_attempt_transition(current, target)


def test_every_attempt_state_is_in_the_table() -> None:
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptState)
    for targets in ATTEMPT_TRANSITIONS.values():
        assert targets <= set(AttemptState)


def test_the_paths_an_attempt_takes_are_in_the_table() -> None:
    walk(A.QUEUED, A.RUNNING, A.COMMITTING, A.ENDED)  # succeeded
    walk(A.QUEUED, A.RUNNING, A.DECIDING, A.COMMITTING, A.ENDED)  # failed: retry or dead
    walk(A.QUEUED, A.RUNNING, A.CANCELLING, A.COMMITTING, A.ENDED)  # cancelled while running
    walk(A.QUEUED, A.QUEUED_CANCELLED, A.COMMITTING, A.ENDED)  # cancelled before it started
    walk(A.QUEUED, A.COMMITTING, A.ENDED)  # handed back: draining before it started
    walk(A.QUEUED, A.RUNNING, A.HANDING_BACK, A.COMMITTING, A.ENDED)  # shutdown timeout


def test_any_attempt_not_ended_can_go_stale_and_stale_and_ended_are_final() -> None:
    for state in AttemptState:
        if state not in (A.ENDED, A.STALE):
            check_attempt_transition(state, A.STALE)
    assert ATTEMPT_TRANSITIONS[A.ENDED] == ATTEMPT_TRANSITIONS[A.STALE] == frozenset()


@pytest.mark.parametrize(("current", "target"), [
    (A.QUEUED, A.ENDED),  # an end is committed first
    (A.COMMITTING, A.CANCELLING),  # a cancel comes too late once the end is written
    (A.DECIDING, A.CANCELLING),
    (A.STALE, A.RUNNING),  # a dropped attempt never runs
    (A.ENDED, A.COMMITTING),
    (A.QUEUED_CANCELLED, A.RUNNING),  # cancelled before it started: the executor never runs
])
def test_a_move_outside_the_table_is_refused(current: AttemptState,
                                             target: AttemptState) -> None:
    with pytest.raises(AttemptStateError, match=f"a {current.value} attempt cannot become"):
        check_attempt_transition(current, target)


def test_outcomes_say_whether_the_attempt_failed_and_what_the_history_records() -> None:
    assert not Outcome(OutcomeKind.SUCCEEDED, {"x": 1}).failed
    assert Outcome(OutcomeKind.SUCCEEDED, {"x": 1}).recorded == "succeeded"
    for kind in (OutcomeKind.FAILED, OutcomeKind.TIMED_OUT, OutcomeKind.NO_EXECUTOR):
        outcome = Outcome(kind, None, "why")
        assert outcome.failed and outcome.recorded == "failed"
    assert not CANCELLED.failed and CANCELLED.recorded == "cancelled"
    assert CANCELLED.kind is OutcomeKind.CANCELLED
