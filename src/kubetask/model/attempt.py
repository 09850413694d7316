"""An attempt as its worker runs it: its states, their one transition table, its outcome."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from kubetask.errors import KubetaskError


class AttemptStateError(KubetaskError):
    """A worker tried to move an attempt along a transition the table does not have (a bug)."""


class AttemptState(StrEnum):
    QUEUED = "queued"  # assigned to the worker, waiting for a slot
    QUEUED_CANCELLED = "queued-cancelled"  # cancelled before it started: it ends cancelled
    RUNNING = "running"  # holds a slot; its executor runs
    CANCELLING = "cancelling"  # cancelled while it ran: its executor was told to stop
    DECIDING = "deciding"  # its executor failed: its end waits for the retry policy
    HANDING_BACK = "handing-back"  # the shutdown timeout passed: stopped, to be handed back
    COMMITTING = "committing"  # its end (or hand-back) is with the committer
    ENDED = "ended"  # its end was committed, or refused (superseded)
    STALE = "stale"  # its claim is no longer ours: nothing more of it is committed


A = AttemptState

# Every move an attempt may make on its worker. Any state but ENDED may become STALE (the
# claim went with the lease, or was revoked); QUEUED -> COMMITTING is a hand-back of an
# attempt that never started (the worker drains).
ATTEMPT_TRANSITIONS: Mapping[AttemptState, frozenset[AttemptState]] = {
    A.QUEUED: frozenset({A.RUNNING, A.QUEUED_CANCELLED, A.HANDING_BACK, A.COMMITTING,
                         A.STALE}),
    A.QUEUED_CANCELLED: frozenset({A.HANDING_BACK, A.COMMITTING, A.STALE}),
    A.RUNNING: frozenset({A.CANCELLING, A.DECIDING, A.HANDING_BACK, A.COMMITTING, A.STALE}),
    A.CANCELLING: frozenset({A.HANDING_BACK, A.COMMITTING, A.STALE}),
    A.DECIDING: frozenset({A.HANDING_BACK, A.COMMITTING, A.STALE}),
    A.HANDING_BACK: frozenset({A.COMMITTING, A.STALE}),
    A.COMMITTING: frozenset({A.ENDED, A.STALE}),
    A.ENDED: frozenset(),
    A.STALE: frozenset(),
}

# The executor runs (an async one is awaited in the attempt's own asyncio task).
EXECUTING = frozenset({A.RUNNING, A.CANCELLING})
# Its end is not yet written nor being written: a cancel, a revoke or a shutdown still applies.
UNDECIDED = frozenset({A.QUEUED, A.QUEUED_CANCELLED, A.RUNNING, A.CANCELLING, A.DECIDING})


def check_attempt_transition(current: AttemptState, target: AttemptState) -> None:
    """Raise AttemptStateError unless `current -> target` is in the table."""
    if target not in ATTEMPT_TRANSITIONS[current]:
        raise AttemptStateError(f"a {current.value} attempt cannot become {target.value}")


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the executor raised, or its result was refused
    TIMED_OUT = "timed-out"
    NO_EXECUTOR = "no-executor"  # the worker has no executor for the task's type
    CANCELLED = "cancelled"  # by request


FAILURES = frozenset({OutcomeKind.FAILED, OutcomeKind.TIMED_OUT, OutcomeKind.NO_EXECUTOR})
CANCELLED_ERROR = "cancelled by request"  # the error a cancelled task's record shows


class Outcome(NamedTuple):
    """How an attempt's executor came out; decided where it happened, never read back from
    an error's text. A tuple: one per attempt, as cheap as the (result, error) it replaced."""

    kind: OutcomeKind
    result: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """A failed attempt: counted as one, and the task retries or is dead."""
        return self.kind in FAILURES

    @property
    def recorded(self) -> str:
        """The outcome in the task's history: succeeded, failed or cancelled."""
        return "failed" if self.kind in FAILURES else self.kind.value


CANCELLED = Outcome(OutcomeKind.CANCELLED, None, CANCELLED_ERROR)
