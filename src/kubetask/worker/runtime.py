"""The worker process: register under a lease, receive assignments, run, commit, drain."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import orjson

from kubetask.errors import Compacted, KubetaskError, StoreError, ValidationError
from kubetask.model import (
    MAX_RESULT_BYTES,
    Attempt,
    QueueConfig,
    RetryPolicy,
    Tally,
    Task,
    TaskState,
    WorkerInfo,
    WorkerState,
)
from kubetask.model.validation import encode_json
from kubetask.queue import AttemptLog, Claim, QueueConfigs, WorkerTally, Write
from kubetask.store import Event, Get, Keyspace, LeaseKeeper, Put, Store, Watch
from kubetask.worker.committer import Committer
from kubetask.worker.executors import Executor, ExecutorRegistry, TaskContext
from kubetask.worker.executors.base import call_async
from kubetask.worker.history import EndHistory
from kubetask.worker.load import LoadSampler
from kubetask.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# An attempt's `running` record is written only once it has run this long: a fast task's
# end record (which carries the start time) is its only write.
START_LINGER = 0.02


class WorkerMetrics:
    """Hooks for figures a worker produces (no-ops; the web layer plugs in Prometheus)."""

    def started(self, task: Task, wait_seconds: float) -> None:
        """An attempt started `wait_seconds` after the task was submitted."""

    def finished(self, task: Task, run_seconds: float) -> None:
        """An attempt ended in `task.state` after `run_seconds`."""


class _Stale(Exception):
    """The claim is no longer ours: stop and commit nothing."""


@dataclass(eq=False)  # identity: kept in sets
class _Running:
    claim: Claim
    ctx: TaskContext
    job: asyncio.Task[None] | None = None
    call: asyncio.Future[Any] | None = None
    finishing: bool = False
    stale: bool = False
    handing_back: bool = False  # shutdown timeout: the attempt is abandoned and handed back
    cancel_requested: bool = False
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None  # wall clock, for the record; None: not started yet
    started_mono: float = 0.0

    def running_task(self, worker: str) -> Task:
        """The record while the attempt runs."""
        return self.claim.task.evolve(state=TaskState.RUNNING, started_at=self.started_at,
                                      worker=worker)


class Worker:
    def __init__(self, store: Store, keys: Keyspace, settings: WorkerSettings,
                 registry: ExecutorRegistry | None = None,
                 metrics: WorkerMetrics | None = None,
                 load: LoadSampler | None = None) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.id = settings.node_id
        self.registry = registry or ExecutorRegistry()
        self.metrics = metrics or WorkerMetrics()
        self.started_at = time.time()
        # Succeeded and failed attempts as committed: written with each batch of ends.
        self.tally = WorkerTally(keys.tally(settings.queue, self.id), Tally(since=self.started_at))
        self._recent: collections.deque[float] = collections.deque()  # end times, last 60 s
        self._history = EndHistory()
        self.registered = asyncio.Event()
        self._running: dict[str, _Running] = {}
        self._unended: set[_Running] = set()  # attempts started whose end is not yet submitted
        self._unrecorded: collections.deque[_Running] = collections.deque()  # start not written
        self._start_timer: asyncio.TimerHandle | None = None
        self._cancels: set[str] = set()
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._draining = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=settings.max_concurrent,
                                        thread_name_prefix=f"kubetask-{self.id}")
        self._load = load or LoadSampler()
        self._queue_configs = QueueConfigs(store, keys)
        self._queue_config = QueueConfig()
        self._lease: LeaseKeeper | None = None
        self._committer: Committer | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"worker-{self.id}")

    async def wait(self) -> None:
        """Until the component ends by itself (an error); cancelling the waiter is safe."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, *, graceful: bool = True) -> None:
        """Graceful: drain (no new tasks, running ones finish within the shutdown timeout,
        the rest are handed back at once), then revoke the lease."""
        if self._task is None:
            return
        if graceful:
            await self.drain()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        jobs = [r.job for r in self._running.values() if r.job is not None]
        self._abandon_all()  # not graceful: nothing more is committed; leases expire
        if jobs:
            await asyncio.wait(jobs, timeout=2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def running(self) -> int:
        return sum(1 for r in self._running.values() if r.started_at is not None)

    def finished_last_minute(self) -> int:
        horizon = time.time() - 60
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()
        return len(self._recent)

    def info(self) -> WorkerInfo:
        cpu, memory = self._load.sample()
        now = time.time()
        start, succeeded, failed = self._history.window(now)
        return WorkerInfo(
            id=self.id, queue=self.settings.queue, capacity=self.settings.max_concurrent,
            weight=self.settings.weight,
            state=WorkerState.DRAINING if self._draining.is_set() else WorkerState.ACTIVE,
            cpu_percent=cpu, memory_percent=memory, hostname=socket.gethostname(),
            pid=os.getpid(), started_at=self.started_at, heartbeat_at=now,
            types=self.registry.types, finished_last_minute=self.finished_last_minute(),
            history_start=start, succeeded_history=succeeded, failed_attempts_history=failed)

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._session()
                delay = 0.2
            except (StoreError, ExceptionGroup) as exc:
                # etcd trouble (also from inside the session's task group): register again.
                log.warning("worker %s: session ended (%s); re-registering in %.1fs", self.id,
                            _describe(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _session(self) -> None:
        """One registration: from lease grant to lease loss (or stop)."""
        lease = LeaseKeeper(self.store, self.settings.lease_ttl, name=f"worker {self.id}")
        await lease.start()
        self._lease = lease
        self.tally.lease = lease.id
        attempts = AttemptLog(self.store, self.keys, self.id, self.tally)
        self._committer = Committer(attempts, others_running=self._attempts_not_ending)
        self._committer.start()
        watches: list[Watch] = []
        try:
            await self._register()
            async with asyncio.TaskGroup() as group:
                cancels = await self.store.range_all(Get(self.keys.cancels(), prefix=True,
                                                         keys_only=True))
                self._cancels = {self.keys.task_id_of(kv.key) for kv in cancels.kvs}
                mine = await self.store.range_all(Get(self.keys.assignments(self.id), prefix=True))
                # Puts only: the deletes are this worker's own ends (half the events); a
                # claim lost with the lease is dropped when the lease keeper says so, and
                # any write of it fails its compare meanwhile.
                watches.append(Watch(self.store, self.keys.assignments(self.id),
                                     start_revision=mine.revision + 1, puts_only=True))
                watches.append(Watch(self.store, self.keys.cancels(),
                                     start_revision=cancels.revision + 1, puts_only=True))
                for kv in mine.kvs:
                    self._on_assignment(kv.key, kv.value, kv.mod_revision)
                self.registered.set()
                log.info("worker %s registered on queue %s (capacity %d, weight %d, types %s)",
                         self.id, self.settings.queue, self.settings.max_concurrent,
                         self.settings.weight, ",".join(self.registry.types))
                group.create_task(self._follow(watches[0], self._on_assignment_events,
                                               self._relist_assignments))
                group.create_task(self._follow(watches[1], self._on_cancel_events,
                                               self._relist_cancels))
                group.create_task(self._heartbeat())
                await lease.lost.wait()
                raise _SessionLost()
        except* _SessionLost:
            log.error("worker %s: lease lost; abandoning %d claims and re-registering",
                      self.id, len(self._running))
            self._abandon_all()
        finally:
            self.registered.clear()
            for watch in watches:
                watch.close()
            await self._committer.stop()
            await lease.stop(revoke=True)
            # Whatever ended the session, its claims died with the lease; a claim left in
            # _running would make the next session ignore a new assignment of that task.
            self._abandon_all()

    async def _follow(self, watch: Watch, handle: Any,
                      relist: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                async for batch in watch:
                    handle(batch)
                return
            except Compacted as exc:
                # Events were missed and can't be replayed: re-list, then watch again.
                log.warning("worker %s: %s; re-listing", self.id, exc)
                watch.next_revision = await relist() + 1

    async def _relist_assignments(self) -> int:
        mine = await self.store.range_all(Get(self.keys.assignments(self.id), prefix=True))
        tokens = {self.keys.task_id_of(kv.key): kv.mod_revision for kv in mine.kvs}
        for task_id, running in list(self._running.items()):
            if tokens.get(task_id) != running.claim.token:
                self._on_revoked(task_id)
        for kv in mine.kvs:
            self._on_assignment(kv.key, kv.value, kv.mod_revision)
        return mine.revision

    async def _relist_cancels(self) -> int:
        cancels = await self.store.range_all(Get(self.keys.cancels(), prefix=True,
                                                 keys_only=True))
        self._on_cancel_events([Event(True, kv, None) for kv in cancels.kvs
                                if self.keys.task_id_of(kv.key) not in self._cancels])
        return cancels.revision

    async def _register(self) -> None:
        """The worker record and its tally, under the session's lease. Later the tally is
        written only by the committer, with ends: a heartbeat never carries counts."""
        assert self._lease is not None
        await self.store.txn([], [Put(self.keys.worker(self.settings.queue, self.id),
                                      orjson.dumps(self.info().to_dict()), lease=self._lease.id),
                                  self.tally.put(self.tally.counts)])

    async def _publish(self) -> None:
        assert self._lease is not None
        await self.store.put(self.keys.worker(self.settings.queue, self.id),
                             orjson.dumps(self.info().to_dict()), lease=self._lease.id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            try:
                await self._publish()
            except StoreError as exc:
                log.warning("worker %s: heartbeat failed (%s)", self.id, exc)

    # --- assignments and cancels --------------------------------------------------
    def _on_assignment_events(self, batch: list[Event]) -> None:
        for event in batch:
            if event.put:
                self._on_assignment(event.key, event.kv.value, event.kv.mod_revision)
            else:
                self._on_revoked(self.keys.task_id_of(event.key))

    def _on_assignment(self, key: str, value: bytes, token: int) -> None:
        task = Task.from_dict(orjson.loads(value))
        if task.id in self._running:
            return
        claim = Claim(task, key, token)
        ctx = TaskContext(task, self.id, token)
        running = _Running(claim, ctx)
        self._running[task.id] = running
        if task.id in self._cancels:
            running.cancel_requested = True
            ctx.cancel()
        running.job = asyncio.create_task(self._execute(running), name=f"task-{task.id}")

    def _on_revoked(self, task_id: str) -> None:
        running = self._running.get(task_id)
        if running is None or running.finishing:
            return
        log.warning("task %s: assignment to worker %s vanished (lease expired?); "
                    "dropping the attempt", task_id, self.id)
        self._make_stale(running)

    def _make_stale(self, running: _Running) -> None:
        running.stale = True
        running.ctx.cancel()
        if running.call is not None:
            running.call.cancel()

    def _on_cancel_events(self, batch: list[Event]) -> None:
        for event in batch:
            task_id = self.keys.task_id_of(event.key)
            running = self._running.get(task_id)
            if running is None:
                self._cancels.add(task_id)
                if len(self._cancels) > 10_000:
                    self._cancels.clear()
                continue
            log.info("task %s: cancel requested; stopping it on worker %s", task_id, self.id)
            running.cancel_requested = True
            running.ctx.cancel()
            if running.call is not None:
                running.call.cancel()

    def _abandon_all(self) -> None:
        self._unrecorded.clear()
        if self._start_timer is not None:
            self._start_timer.cancel()
            self._start_timer = None
        for running in list(self._running.values()):
            log.warning("task %s: worker %s drops attempt %d (claim %d): its lease is gone, "
                        "nothing of it is committed", running.claim.task.id, self.id,
                        running.claim.task.attempts, running.claim.token)
            self._make_stale(running)
            if running.job is not None:
                running.job.cancel()
        self._running.clear()

    # --- running one attempt -----------------------------------------------------------
    def _attempts_not_ending(self) -> int:
        return len(self._unended)

    async def _execute(self, running: _Running) -> None:
        task = running.claim.task
        try:
            if not await self._take_slot():
                await self._hand_back(running, "worker draining before the task started")
                return
            try:
                await self._attempt(running)
            finally:
                self._slots.release()
        except _Stale:
            pass
        except KubetaskError as exc:
            log.error("task %s on worker %s: %s", task.id, self.id, exc)
        finally:
            self._unended.discard(running)
            if self._running.get(task.id) is running:  # not a newer claim of the same task
                del self._running[task.id]
            self._cancels.discard(task.id)

    async def _take_slot(self) -> bool:
        if self._draining.is_set():
            return False
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: taken without suspending
            return True
        acquire = asyncio.ensure_future(self._slots.acquire())
        drain = asyncio.ensure_future(self._draining.wait())
        await asyncio.wait({acquire, drain}, return_when=asyncio.FIRST_COMPLETED)
        drain.cancel()
        if acquire.done() and not acquire.cancelled():
            if self._draining.is_set():
                self._slots.release()
                return False
            return True
        acquire.cancel()
        return False

    def _note_start(self, running: _Running) -> float:
        """Mark the attempt started (returns the wall-clock start); its `running` record is
        queued by _record_starts if it still runs START_LINGER later."""
        loop = asyncio.get_running_loop()
        running.started_at = started_at = time.time()
        running.started_mono = loop.time()
        self._unended.add(running)
        self._unrecorded.append(running)
        if self._start_timer is None:
            self._start_timer = loop.call_later(START_LINGER, self._record_starts)
        return started_at

    def _record_starts(self) -> None:
        """Queue the `running` write of attempts that have run START_LINGER (one timer for
        all of them, not one per attempt)."""
        self._start_timer = None
        loop = asyncio.get_running_loop()
        horizon = loop.time() - START_LINGER
        while self._unrecorded and self._unrecorded[0].started_mono <= horizon:
            running = self._unrecorded.popleft()
            if running not in self._unended or running.stale or self._committer is None:
                continue  # ended (its end record carries the start), or dropped
            start = self._committer.submit(Write(running.claim, running.running_task(self.id),
                                                 final=False))
            start.add_done_callback(functools.partial(self._started, running))
        if self._unrecorded:
            self._start_timer = loop.call_later(self._unrecorded[0].started_mono - horizon,
                                                self._record_starts)

    def _started(self, running: _Running, committed: asyncio.Future[bool]) -> None:
        if not committed.result():
            self._make_stale(running)  # the claim was stale: stop the attempt

    async def _attempt(self, running: _Running) -> None:
        claim, ctx = running.claim, running.ctx
        task = claim.task
        started_at = self._note_start(running)
        self.metrics.started(task, started_at - task.created_at)
        if task.timeout_seconds:
            ctx.deadline = time.monotonic() + task.timeout_seconds
        executor = self.registry.get(task.type)
        result: Any = None
        error: str | None = None
        if running.cancel_requested:
            error = "cancelled by request"
        elif executor is None:
            error = (f"no executor for task type {task.type!r} on worker {self.id} "
                     f"(it knows: {', '.join(self.registry.types)})")
        else:
            result, error = await self._outcome(executor, running)
        if running.stale or running.handing_back:
            raise _Stale()
        await self._finish(running, result, error, executor is None)

    async def _outcome(self, executor: Executor, running: _Running) -> tuple[Any, str | None]:
        """Run the executor: (result, None) on success, (None, error) on failure."""
        try:
            result = await self._invoke(executor, running)
            encode_json(result, what="result", limit=MAX_RESULT_BYTES)
            return result, None
        except TimeoutError:
            return None, f"timed out after {running.claim.task.timeout_seconds}s"
        except asyncio.CancelledError:
            if running.stale or running.handing_back:
                raise _Stale() from None
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                current.uncancel()  # an async executor cancelled in this task: go on to record it
            return None, "cancelled by request"
        except ValidationError as exc:
            return None, str(exc)
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def _invoke(self, executor: Executor, running: _Running) -> Any:
        task, ctx = running.claim.task, running.ctx
        timeout = task.timeout_seconds
        if executor.is_async:
            # Awaited in this task (no task of its own); cancelling `call` while it runs
            # cancels this task, which _outcome turns into a cancelled attempt.
            running.call = running.job
            try:
                async with asyncio.timeout(timeout):
                    return await call_async(executor, task, ctx)
            finally:
                running.call = None
        loop = asyncio.get_running_loop()
        running.call = loop.run_in_executor(self._pool, executor.run, task, ctx)
        call = running.call
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(call)
        except (TimeoutError, asyncio.CancelledError):
            ctx.cancel()  # sync code stops cooperatively; its slot is held until it returns
            if not (running.stale or running.handing_back):
                with contextlib.suppress(BaseException):
                    async with asyncio.timeout(self.settings.shutdown_timeout):
                        await asyncio.shield(call)
            raise

    async def _finish(self, running: _Running, result: Any, error: str | None,
                      no_executor: bool) -> None:
        assert self._committer is not None
        task = running.claim.task  # as assigned: one evolve to the end record below
        started_at = running.started_at
        now = time.time()
        cancelled = running.cancel_requested or (running.ctx.cancelled
                                                 and error == "cancelled by request")
        outcome = "cancelled" if cancelled else "succeeded" if error is None else "failed"
        attempt = Attempt(number=task.attempt_number, worker=self.id, token=running.claim.token,
                          started_at=started_at, finished_at=now, outcome=outcome,
                          error=error)
        history = (*task.history, attempt)
        failed = error is not None
        if cancelled:
            after = task.evolve(state=TaskState.CANCELLED, finished_at=now, history=history,
                                error="cancelled by request", result=None,
                                started_at=started_at, worker=self.id)
            failed = False
        elif error is None:
            after = task.evolve(state=TaskState.SUCCEEDED, result=result, finished_at=now,
                                history=history, error=None, started_at=started_at,
                                worker=self.id)
        else:
            after = await self._after_failure(task, now, history, error, no_executor,
                                              started_at)
        running.finishing = True
        self._unended.discard(running)
        committed = await self._committer.submit(
            Write(running.claim, after, final=True, failed=failed,
                  cancel_requested=running.cancel_requested))
        if not committed:
            log.warning("task %s: worker %s's attempt %d was superseded; its %s is dropped",
                        task.id, self.id, task.attempts, after.state.value)
            return
        self._recent.append(now)
        self._history.note(now, succeeded=after.state is TaskState.SUCCEEDED, failed=failed)
        self.metrics.finished(after, now - (started_at or now))
        level = logging.INFO if after.state is TaskState.SUCCEEDED else logging.WARNING
        log.log(level, "task %s (%s) attempt %d on worker %s: %s%s", task.id, task.type,
                task.attempts, self.id, after.state.value, f" ({error})" if error else "")

    async def _after_failure(self, task: Task, now: float, history: tuple[Attempt, ...],
                             error: str, no_executor: bool, started_at: float | None) -> Task:
        """Retry later (backoff) or dead, by the task's policy, else its queue's, else ours."""
        policy = await self._retry_policy(task)
        if no_executor or task.attempts > policy.max_retries:
            return task.evolve(state=TaskState.DEAD, finished_at=now, history=history,
                               error=error, started_at=started_at, worker=self.id)
        due = now + policy.delay(task.attempts)
        return task.evolve(state=TaskState.RETRYING, run_at=due, history=history, error=error,
                           worker=None, started_at=started_at)

    async def _retry_policy(self, task: Task) -> RetryPolicy:
        try:  # read when needed: a change of the queue's defaults applies at once
            self._queue_config = await self._queue_configs.get(task.queue)
        except StoreError as exc:
            log.warning("worker %s: reading queue %s's settings failed (%s); using the last "
                        "ones read", self.id, task.queue, exc)
        policy = self._queue_config.applied_to(self.settings.retry)
        return RetryPolicy(max_retries=_or(task.max_retries, policy.max_retries),
                           base_seconds=_or(task.retry_base_seconds, policy.base_seconds),
                           cap_seconds=_or(task.retry_cap_seconds, policy.cap_seconds))

    async def _hand_back(self, running: _Running, why: str) -> None:
        assert self._committer is not None
        task = running.claim.task
        attempt = Attempt(number=task.attempt_number, worker=self.id, token=running.claim.token,
                          finished_at=time.time(), outcome="handed-back", error=why)
        after = task.evolve(state=TaskState.PENDING, worker=None, attempts=task.attempts - 1,
                            history=(*task.history, attempt), started_at=None)
        running.finishing = True
        self._unended.discard(running)
        if await self._committer.submit(Write(running.claim, after, final=True)):
            log.info("task %s handed back by worker %s: %s", task.id, self.id, why)

    # --- graceful shutdown ---------------------------------------------------------
    async def drain(self) -> None:
        if self._draining.is_set():
            return
        self._draining.set()
        log.info("worker %s draining: %d running, waiting up to %.0fs", self.id, self.running,
                 self.settings.shutdown_timeout)
        with contextlib.suppress(StoreError):
            if self._lease is not None and self.registered.is_set():
                await self._publish()
        jobs = [r.job for r in self._running.values() if r.job is not None]
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=self.settings.shutdown_timeout)
            for running in list(self._running.values()):
                if running.job in late:
                    await self._interrupt(running)
        if self._committer is not None:
            await self._committer.stop()
        if self._lease is not None:
            await self._lease.stop(revoke=True)  # the worker key and any claim left go with it
        log.info("worker %s stopped (succeeded %d, failed attempts %d)", self.id,
                 self.tally.counts.succeeded, self.tally.counts.failed_attempts)

    async def _interrupt(self, running: _Running) -> None:
        """Shutdown timeout: stop the attempt and hand the task back now."""
        if running.finishing:
            return  # its end is being committed already
        running.handing_back = True
        running.ctx.cancel()
        if running.job is not None:
            running.job.cancel()
            with contextlib.suppress(BaseException):
                await running.job
        await self._hand_back(running, "worker shut down before the task finished")


class _SessionLost(Exception):
    pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
