"""The worker's attempts: one object per claim, its slot, its delayed `running` write, and
what assignments, cancels and revokes do to it. Each moves through model.AttemptState."""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson

from kubetask.model import AttemptState, Task, TaskState, check_attempt_transition
from kubetask.model.attempt import EXECUTING
from kubetask.queue import Claim, Write
from kubetask.store import Event, Keyspace
from kubetask.worker.cancels import EarlyCancels
from kubetask.worker.committer import Committer
from kubetask.worker.executors import TaskContext

log = logging.getLogger(__name__)
S = AttemptState

# An attempt's `running` record is written only once it has run this long: a fast task's
# end record (which carries the start time) is its only write.
START_LINGER = 0.02


@dataclass(eq=False, slots=True)  # identity: kept in sets
class AttemptRun:
    """One attempt as this worker runs it; `state` changes only through `move`."""

    claim: Claim
    ctx: TaskContext
    state: AttemptState = S.QUEUED
    job: asyncio.Task[None] | None = None  # runs the attempt; awaits an async executor itself
    pool_call: asyncio.Future[Any] | None = None  # a sync executor's call in the thread pool
    started_at: float | None = None  # wall clock, for the record (set with RUNNING)
    started_mono: float = 0.0
    ticket: asyncio.Future[bool] | None = None  # while it waits for a slot (worker.slots)
    holds_slot: bool = False  # from the slot given until its executor is done

    def move(self, target: AttemptState) -> None:
        check_attempt_transition(self.state, target)
        self.state = target

    def running_task(self, worker: str) -> Task:
        """The record while the attempt runs."""
        return self.claim.task.evolve(state=TaskState.RUNNING, started_at=self.started_at,
                                      worker=worker)

    def cancel(self) -> bool:
        """A cancel was requested: True if it applies (the end is not decided yet)."""
        if self.state is S.QUEUED:
            self.move(S.QUEUED_CANCELLED)
            self.ctx.cancel()
            self._stop_waiting()  # a cancelled claim ends at once, without a slot
            return True
        if self.state is S.RUNNING:
            self.move(S.CANCELLING)
            self._stop_executor()
            return True
        return self.state in (S.QUEUED_CANCELLED, S.CANCELLING)

    def drop(self) -> None:
        """The claim is no longer ours: stop, and commit nothing more."""
        if self.state in (S.ENDED, S.STALE):
            return
        executing = self.state in EXECUTING
        self.move(S.STALE)
        if executing:
            self._stop_executor()
        else:
            self.ctx.cancel()
            self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self.ticket is not None and not self.ticket.done():
            self.ticket.cancel()  # its job stops waiting for a slot

    def _stop_executor(self) -> None:
        self.ctx.cancel()  # a sync executor stops cooperatively; its thread runs on until then
        if self.pool_call is not None:
            self.pool_call.cancel()
        elif self.job is not None:
            self.job.cancel()  # an async executor is awaited in the job: interrupted there


class Attempts:
    """This worker's attempts by task id, and the claims' events applied to them."""

    def __init__(self, worker: str, keys: Keyspace,
                 execute: Callable[[AttemptRun], Coroutine[Any, Any, None]]) -> None:
        self.worker = worker
        self.keys = keys
        self.by_task: dict[str, AttemptRun] = {}
        self.unended: set[AttemptRun] = set()  # started, and no end submitted yet
        self.cancels = EarlyCancels()
        self.committer: Committer | None = None  # the session's
        self.starts = StartRecorder(self)
        self._execute = execute

    def on_assignment_events(self, batch: list[Event]) -> None:
        for event in batch:
            if event.put:
                self.on_assignment(event.key, event.kv.value, event.kv.mod_revision)
            else:
                self.on_revoked(self.keys.task_id_of(event.key))

    def on_assignment(self, key: str, value: bytes, token: int) -> None:
        task = Task.from_dict(orjson.loads(value))
        current = self.by_task.get(task.id)
        if current is not None:
            if token <= current.claim.token:
                return  # this claim, seen again (a relist), or an older one
            # A newer claim of a task this worker held before: the earlier claim is gone
            # (its lease died, e.g. with the previous process of this worker id) and the
            # scheduler assigned the task here again. The old attempt stops and writes
            # nothing more (its writes would fail their compare); the new claim runs.
            self.on_revoked(task.id)
        run = AttemptRun(Claim(task, key, token), TaskContext(task, self.worker, token))
        self.by_task[task.id] = run
        if self.cancels.take(task.id):
            run.cancel()
        run.job = asyncio.create_task(self._execute(run), name=f"task-{task.id}")

    def on_revoked(self, task_id: str) -> None:
        run = self.by_task.get(task_id)
        if run is None or run.state in (S.COMMITTING, S.ENDED, S.STALE):
            return
        log.warning("task %s: assignment to worker %s vanished (lease expired?); "
                    "dropping the attempt", task_id, self.worker)
        run.drop()

    def on_cancel_events(self, batch: list[Event]) -> None:
        for event in batch:
            task_id = self.keys.task_id_of(event.key)
            run = self.by_task.get(task_id)
            if run is not None and run.cancel():
                log.info("task %s: cancel requested; stopping it on worker %s", task_id,
                         self.worker)
            else:
                # Not ours yet, or its end is decided: a later attempt here is cancelled.
                self.cancels.add(task_id)

    def not_ending(self) -> int:
        """Attempts started whose end is not yet submitted (the committer's end linger)."""
        return len(self.unended)

    def forget(self, run: AttemptRun) -> None:
        """The attempt's job is over."""
        self.unended.discard(run)
        task_id = run.claim.task.id
        if self.by_task.get(task_id) is run:  # not a newer claim of the same task
            del self.by_task[task_id]

    def abandon_all(self) -> None:
        self.starts.clear()
        for run in list(self.by_task.values()):
            log.warning("task %s: worker %s drops attempt %d (claim %d): its lease is gone, "
                        "nothing of it is committed", run.claim.task.id, self.worker,
                        run.claim.task.attempts, run.claim.token)
            run.drop()
            if run.job is not None:
                run.job.cancel()
        self.by_task.clear()


class StartRecorder:
    """Marks attempts started and queues their `running` write once they have run
    START_LINGER: one timer for all the attempts started meanwhile, not one per attempt."""

    def __init__(self, attempts: Attempts) -> None:
        self._attempts = attempts
        self._unrecorded: collections.deque[AttemptRun] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def note(self, run: AttemptRun) -> float:
        """Mark the attempt started (the caller moved it to RUNNING); the wall-clock start."""
        loop = asyncio.get_running_loop()
        run.started_at = started_at = time.time()
        run.started_mono = loop.time()
        self._attempts.unended.add(run)
        self._unrecorded.append(run)
        if self._timer is None:
            self._timer = loop.call_later(START_LINGER, self._record)
        return started_at

    def _record(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        horizon = loop.time() - START_LINGER
        committer = self._attempts.committer
        while self._unrecorded and self._unrecorded[0].started_mono <= horizon:
            run = self._unrecorded.popleft()
            if run.state not in EXECUTING or committer is None:
                continue  # its end is decided (the end record carries the start), or dropped
            start = committer.submit(Write(run.claim, run.running_task(self._attempts.worker),
                                           final=False))
            start.add_done_callback(functools.partial(_started, run))
        if self._unrecorded:
            self._timer = loop.call_later(self._unrecorded[0].started_mono - horizon,
                                          self._record)

    def clear(self) -> None:
        self._unrecorded.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _started(run: AttemptRun, committed: asyncio.Future[bool]) -> None:
    if not committed.result():
        run.drop()  # the claim was stale: stop the attempt
