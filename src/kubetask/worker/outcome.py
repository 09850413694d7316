"""An attempt's job: take a slot, call the executor, turn its outcome into the end record
and commit it; or hand the task back (draining, shutdown timeout, waited past the prefetch
hold)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubetask.errors import StoreError, ValidationError
from kubetask.model import (
    MAX_RESULT_BYTES,
    Attempt,
    AttemptState,
    Outcome,
    OutcomeKind,
    QueueConfig,
    Task,
    TaskState,
    decide_retry,
    resolve_policy,
)
from kubetask.model.attempt import CANCELLED, CANCELLED_ERROR
from kubetask.model.validation import encode_json
from kubetask.queue import QueueConfigs, Write
from kubetask.store import Keyspace
from kubetask.worker.attempts import AttemptRun, Attempts
from kubetask.worker.executors import Executor, ExecutorRegistry
from kubetask.worker.executors.base import call_async
from kubetask.worker.history import EndHistory
from kubetask.worker.hooks import WorkerMetrics
from kubetask.worker.prefetch import PrefetchAdvert
from kubetask.worker.settings import WorkerSettings
from kubetask.worker.slots import Slots

log = logging.getLogger(__name__)
S = AttemptState
_DROPPED = (S.STALE, S.HANDING_BACK)  # nothing of the attempt's own is committed


class _Stale(Exception):
    """The claim is no longer ours (or the attempt is being handed back): commit nothing."""


class AttemptRunner:
    """Runs each attempt of the worker in its own asyncio task (its job)."""

    def __init__(self, settings: WorkerSettings, keys: Keyspace, registry: ExecutorRegistry,
                 metrics: WorkerMetrics, queue_configs: QueueConfigs,
                 on_bug: Callable[[BaseException, str], None],
                 on_advert: Callable[[], None] = lambda: None) -> None:
        self.id = settings.node_id
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.attempts = Attempts(self.id, keys, self.execute)
        self.slots = Slots(settings.max_concurrent)
        self.prefetch = PrefetchAdvert(settings.prefetch_depth, settings.prefetch_hold, on_advert,
                                       slots=settings.max_concurrent)
        self.recent: collections.deque[float] = collections.deque()  # end times, last 60 s
        self.history = EndHistory()
        self._queue_configs = queue_configs
        self._queue_config = QueueConfig()
        self._on_bug = on_bug
        self._pool = ThreadPoolExecutor(max_workers=settings.max_concurrent,
                                        thread_name_prefix=f"kubetask-{self.id}")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def execute(self, run: AttemptRun) -> None:
        task = run.claim.task
        try:
            given = await self._wait_for_slot(run)
            if given:
                run.holds_slot = True
                try:
                    await self._attempt(run)
                finally:
                    self._give_back_slot(run)
            elif run.state is S.QUEUED_CANCELLED:
                await self._attempt(run)  # cancelled while it waited: ends now, no slot needed
            elif run.state is S.QUEUED and given is False:
                await self.hand_back(run, "worker draining before the task started")
            elif run.state is S.QUEUED:
                self.prefetch.held_too_long()
                await self.hand_back(run, f"waited over {self.settings.prefetch_hold:g}s "
                                          "for a slot (prefetch hold)")
        except _Stale:
            pass
        except StoreError as exc:
            log.error("task %s on worker %s: %s", task.id, self.id, exc)
        except Exception as exc:  # a bug: its claim is left to the lease (see worker.faults)
            self._on_bug(exc, f"the attempt of task {task.id}")
        finally:
            self.attempts.forget(run)

    async def _wait_for_slot(self, run: AttemptRun) -> bool | None:
        """True: a slot is held. False: refused (draining). None: none given (the claim was
        cancelled or dropped first, or, prefetched, it waited past the prefetch hold)."""
        if run.state is not S.QUEUED:
            return None
        task = run.claim.task
        run.ticket = ticket = self.slots.ticket(task.priority if task.rank is None else task.rank)
        hold = self.settings.prefetch_hold if self.settings.prefetch_depth else None
        try:
            return await self.slots.take(ticket, hold)
        finally:
            run.ticket = None

    def _give_back_slot(self, run: AttemptRun) -> None:
        if not run.holds_slot:
            return
        run.holds_slot = False
        self.slots.release()
        if run.started_at is not None:
            ran = asyncio.get_running_loop().time() - run.started_mono
            self.prefetch.ended(ran, free_slot=self.slots.free > 0)

    async def _attempt(self, run: AttemptRun) -> None:
        task = run.claim.task
        if run.state is S.STALE:
            raise _Stale()  # dropped while it waited for its slot
        if run.state is S.QUEUED:
            run.move(S.RUNNING)
        started_at = self.attempts.starts.note(run)
        self.metrics.started(task, started_at - task.created_at)
        if task.timeout_seconds:
            run.ctx.deadline = time.monotonic() + task.timeout_seconds
        executor = self.registry.get(task.type)
        outcome: Outcome
        if run.state is S.QUEUED_CANCELLED:
            outcome = CANCELLED
        elif executor is None:
            outcome = Outcome(OutcomeKind.NO_EXECUTOR, None,
                              f"no executor for task type {task.type!r} on worker {self.id} "
                              f"(it knows: {', '.join(self.registry.types)})")
        else:
            outcome = await self._outcome(executor, run)
        if run.state in _DROPPED:
            raise _Stale()
        if run.state is S.CANCELLING:
            outcome = CANCELLED  # whatever the executor did after it was told to stop
        # The executor is done: its slot goes to the next claim (prefetched) while the end
        # commits, so a slot never idles through the commit's linger and round trip.
        self._give_back_slot(run)
        await self._finish(run, outcome)

    async def _outcome(self, executor: Executor, run: AttemptRun) -> Outcome:
        try:
            result = await self._invoke(executor, run)
            encode_json(result, what="result", limit=MAX_RESULT_BYTES)
            return Outcome(OutcomeKind.SUCCEEDED, result)
        except TimeoutError:
            return Outcome(OutcomeKind.TIMED_OUT, None,
                           f"timed out after {run.claim.task.timeout_seconds}s")
        except asyncio.CancelledError:
            if run.state in _DROPPED:
                raise _Stale() from None
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                current.uncancel()  # an async executor cancelled in this task: go on to record it
            if run.state is S.CANCELLING:
                return CANCELLED
            return Outcome(OutcomeKind.FAILED, None,
                           "CancelledError: the executor was cancelled, not by a cancel request")
        except ValidationError as exc:
            return Outcome(OutcomeKind.FAILED, None, str(exc))
        except Exception as exc:
            return Outcome(OutcomeKind.FAILED, None, f"{type(exc).__name__}: {exc}")

    async def _invoke(self, executor: Executor, run: AttemptRun) -> Any:
        task, ctx = run.claim.task, run.ctx
        timeout = task.timeout_seconds
        if executor.is_async:
            # Awaited in this task (no task of its own): while the attempt is RUNNING or
            # CANCELLING, a cancel or a revoke cancels this task (AttemptRun._stop_executor).
            async with asyncio.timeout(timeout):
                return await call_async(executor, task, ctx)
        loop = asyncio.get_running_loop()
        run.pool_call = call = loop.run_in_executor(self._pool, executor.run, task, ctx)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(call)
        except (TimeoutError, asyncio.CancelledError):
            ctx.cancel()  # sync code stops cooperatively; its slot is held until it returns
            if run.state not in _DROPPED:
                with contextlib.suppress(BaseException):
                    async with asyncio.timeout(self.settings.shutdown_timeout):
                        await asyncio.shield(call)
            raise

    async def _finish(self, run: AttemptRun, outcome: Outcome) -> None:
        task = run.claim.task  # as assigned: one evolve to the end record below
        started_at = run.started_at
        now = time.time()
        attempt = Attempt(number=task.attempt_number, worker=self.id, token=run.claim.token,
                          started_at=started_at, finished_at=now, outcome=outcome.recorded,
                          error=outcome.error)
        history = (*task.history, attempt)
        kind = outcome.kind
        if kind is OutcomeKind.SUCCEEDED:
            after = task.evolve(state=TaskState.SUCCEEDED, result=outcome.result,
                                finished_at=now, history=history, error=None,
                                started_at=started_at, worker=self.id)
        elif kind is OutcomeKind.CANCELLED:
            after = task.evolve(state=TaskState.CANCELLED, finished_at=now, history=history,
                                error=CANCELLED_ERROR, result=None, started_at=started_at,
                                worker=self.id)
        else:
            run.move(S.DECIDING)
            after = await self._after_failure(task, outcome, now, history, started_at)
        committed = await self._submit(run, Write(run.claim, after, final=True,
                                                  failed=outcome.failed,
                                                  cancel_requested=kind is OutcomeKind.CANCELLED))
        _ended(run)
        if not committed:
            log.warning("task %s: worker %s's attempt %d was superseded; its %s is dropped",
                        task.id, self.id, task.attempts, after.state.value)
            return
        self.recent.append(now)
        self.history.note(now, succeeded=kind is OutcomeKind.SUCCEEDED, failed=outcome.failed)
        self.metrics.finished(after, now - (started_at or now))
        level = logging.INFO if kind is OutcomeKind.SUCCEEDED else logging.WARNING
        log.log(level, "task %s (%s) attempt %d on worker %s: %s%s", task.id, task.type,
                task.attempts, self.id, after.state.value,
                f" ({outcome.error})" if outcome.error else "")

    def _submit(self, run: AttemptRun, write: Write) -> asyncio.Future[bool]:
        """The attempt's last write, to the session's committer."""
        committer = self.attempts.committer
        assert committer is not None
        run.move(S.COMMITTING)
        self.attempts.unended.discard(run)
        return committer.submit(write)

    async def _after_failure(self, task: Task, outcome: Outcome, now: float,
                             history: tuple[Attempt, ...], started_at: float | None) -> Task:
        """Retry later (backoff) or dead, by the task's policy, else its queue's, else ours."""
        policy = resolve_policy(task, await self._queue_config_of(task), self.settings.retry)
        decision = decide_retry(task, outcome, policy, now)
        if decision.state is TaskState.DEAD:
            return task.evolve(state=TaskState.DEAD, finished_at=now, history=history,
                               error=outcome.error, started_at=started_at, worker=self.id)
        return task.evolve(state=TaskState.RETRYING, run_at=decision.run_at, history=history,
                           error=outcome.error, worker=None, started_at=started_at)

    async def _queue_config_of(self, task: Task) -> QueueConfig:
        try:  # read when needed: a change of the queue's defaults applies at once
            self._queue_config = await self._queue_configs.get(task.queue)
        except StoreError as exc:
            log.warning("worker %s: reading queue %s's settings failed (%s); using the last "
                        "ones read", self.id, task.queue, exc)
        return self._queue_config

    async def hand_back(self, run: AttemptRun, why: str) -> None:
        task = run.claim.task
        attempt = Attempt(number=task.attempt_number, worker=self.id, token=run.claim.token,
                          finished_at=time.time(), outcome="handed-back", error=why)
        after = task.evolve(state=TaskState.PENDING, worker=None, attempts=task.attempts - 1,
                            history=(*task.history, attempt), started_at=None)
        committed = await self._submit(run, Write(run.claim, after, final=True))
        _ended(run)
        if committed:
            log.info("task %s handed back by worker %s: %s", task.id, self.id, why)

    async def interrupt(self, run: AttemptRun) -> None:
        """Shutdown timeout: stop the attempt and hand the task back now."""
        if run.state in (S.COMMITTING, S.ENDED, S.STALE):
            return  # its end is being committed already, or nothing of it will be
        run.move(S.HANDING_BACK)
        run.ctx.cancel()
        if run.job is not None:
            run.job.cancel()
            with contextlib.suppress(BaseException):
                await run.job
        if run.state is S.HANDING_BACK:  # not dropped meanwhile
            await self.hand_back(run, "worker shut down before the task finished")

    def finished_last_minute(self) -> int:
        horizon = time.time() - 60
        while self.recent and self.recent[0] < horizon:
            self.recent.popleft()
        return len(self.recent)


def _ended(run: AttemptRun) -> None:
    if run.state is S.COMMITTING:  # not dropped meanwhile
        run.move(S.ENDED)
