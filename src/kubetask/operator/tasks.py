"""One namespace's Tasks: submitted once (idempotent by uid), their status following the
engine's change feed (one watch per namespace), coalesced into one patch per Task with its
latest state, deleted `ttlSecondsAfterFinished` after they finished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubetask.client import AsyncClient
from kubetask.errors import (
    KubetaskError,
    ServiceFailed,
    StoreError,
    TaskNotFound,
    TaskStateError,
    ValidationError,
)
from kubetask.model import Task, TaskState
from kubetask.model.task import iso
from kubetask.operator import mapping
from kubetask.operator.hooks import NoHooks, OperatorHooks
from kubetask.operator.kube import KubeApi, NotFound
from kubetask.supervisor import RestartPolicy, Restarts, describe
from kubetask.trouble import Trouble

log = logging.getLogger(__name__)

PATCHES_AT_ONCE = 16
# The change feed: etcd trouble reopens it after a backoff for as long as it lasts; a bug
# (anything else) too, until the third within a minute gives up (ServiceFailed).
FEED_RESTARTS = RestartPolicy(restart_on=(StoreError,))


@dataclass
class TaskRef:
    """What the operator remembers of a Task resource."""

    name: str
    uid: str
    queue: str
    generation: int | None
    ttl: int | None
    phase: str | None = None  # as last written
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_id: str | None = None


class NamespaceTasks:
    """The Task resources of one namespace and their tasks in the engine's namespace."""

    def __init__(self, namespace: str, client: AsyncClient, kube: KubeApi, *,
                 linger: float = 0.2, hooks: OperatorHooks | None = None,
                 on_failure: Callable[[ServiceFailed], None] | None = None,
                 feed_restarts: RestartPolicy = FEED_RESTARTS) -> None:
        self.namespace = namespace
        self.client = client
        self.hooks: OperatorHooks = hooks or NoHooks()
        # Called when the feed gave up (a repeated bug): the operator then stops, loudly.
        self.on_failure = on_failure or (lambda failure: None)
        self.feed_restarts = Restarts(f"change feed of namespace {namespace}", feed_restarts)
        self.failure: ServiceFailed | None = None
        self._feed_trouble = Trouble()  # the feed failing, until it works again
        self.queues: set[str] = set()  # TaskQueues that exist here
        self._kube = kube
        self._linger = linger
        self._refs: dict[str, TaskRef] = {}  # by uid
        self._dirty: dict[str, Task] = {}  # uid -> latest state not yet written
        self._fed: set[str] = set()  # uids the feed delivered (newer than any read)
        self._wake = asyncio.Event()
        self._resync = False
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._feed: Any = None

    async def start(self) -> None:
        await self.client.start()
        self._feed = await self.client.task_changes(resync=self._on_resync)
        self._runner = asyncio.create_task(self._run(), name=f"tasks {self.namespace}")

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.wait({self._runner})
        await self.client.stop()

    # --- from the handlers -----------------------------------------------------------
    async def seen(self, body: Any) -> None:
        """A Task resource exists (created, or found at start): submit it once, follow it."""
        meta, spec, status = body["metadata"], body["spec"], dict(body.get("status") or {})
        ref = TaskRef(name=meta["name"], uid=meta["uid"], queue=spec.get("queue", "default"),
                      generation=meta.get("generation"), ttl=spec.get("ttlSecondsAfterFinished"),
                      phase=status.get("phase"), task_id=status.get("taskID"),
                      conditions={c["type"]: c for c in status.get("conditions") or []})
        self._refs[ref.uid] = ref
        self.hooks.followed(self.namespace, len(self._refs))
        if ref.phase in mapping.FINISHED_PHASES:
            self._expire_later(ref, status.get("completionTime"))
            return
        try:
            task_spec = mapping.task_spec(ref.name, ref.uid, spec)
            task = (await self.client.submit_many([task_spec]))[0]
        except ValidationError as exc:
            self.hooks.refused(self.namespace)
            await self._refuse(ref, str(exc))
            return
        self.hooks.submitted(self.namespace)
        ref.task_id = task.id
        self.offer(ref.uid, task, read=True)

    async def deleted(self, body: Any) -> None:
        """A Task resource is being deleted: cancel its task unless it finished. Without a
        taskID in its status (an operator died between submitting it and writing its first
        status) the task is found by its idempotency key, the uid, in its queue; none there:
        it was never submitted, nothing to cancel."""
        uid = body["metadata"]["uid"]
        ref = self._refs.pop(uid, None)
        self.hooks.followed(self.namespace, len(self._refs))
        self._dirty.pop(uid, None)
        self._fed.discard(uid)
        if (timer := self._timers.pop(uid, None)) is not None:
            timer.cancel()
        task_id = (body.get("status") or {}).get("taskID") or (ref.task_id if ref else None)
        with contextlib.suppress(TaskNotFound, TaskStateError):
            if task_id is None:
                queue = (body.get("spec") or {}).get("queue", "default")
                task_id = (await self.client.get_by_key(uid, queue=queue)).id
            task = await self.client.cancel(task_id)
            log.info("task %s (%s/%s) cancelled: its Task was deleted", task.id,
                     self.namespace, body["metadata"]["name"])

    def queue_changed(self, queue: str, exists: bool) -> None:
        """A TaskQueue appeared or went: rewrite the condition of that queue's Tasks."""
        (self.queues.add if exists else self.queues.discard)(queue)
        if any(ref.queue == queue for ref in self._refs.values()):
            self._on_resync()  # read them again: their next patch has the new condition

    def offer(self, uid: str, task: Task, *, read: bool = False) -> None:
        """A state of the task (a read's only counts until the feed delivered one)."""
        if read and uid in self._fed:
            return
        if not read:
            self._fed.add(uid)
        self._dirty[uid] = task
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------
    def _on_resync(self) -> None:
        self._resync = True
        self._wake.set()

    async def _run(self) -> None:
        follower = asyncio.create_task(self._follow(), name=f"feed {self.namespace}")
        try:
            while True:
                await self._wake.wait()
                await asyncio.sleep(self._linger)  # let changes gather: one patch per Task
                self._wake.clear()
                if self._resync:
                    self._resync = False
                    await self._read_all()
                dirty, self._dirty = self._dirty, {}
                await self._write(dirty)
        finally:
            follower.cancel()
            if self._feed is not None:
                self._feed.close()

    async def _follow(self) -> None:
        """Note every change of a Task's task. A feed that fails is opened again after a
        backoff (and every Task read again: changes may have been missed meanwhile) by the
        restart rule: etcd trouble for as long as it lasts, a warning once per cause; a bug
        logged with its traceback, and the third within a minute gives up (on_failure)."""
        restarts = self.feed_restarts
        while True:
            try:
                await self._follow_once()
            except Exception as exc:
                try:
                    delay = self._feed_failed(exc)
                except ServiceFailed as failure:
                    self.failure = failure
                    self.on_failure(failure)
                    return
                await asyncio.sleep(delay)
            else:
                restarts.succeeded()

    async def _follow_once(self) -> None:
        if self._feed is None:  # after a failure: a new feed, then every Task read again
            self._feed = await self.client.task_changes(resync=self._on_resync)
            self.hooks.feed_restarted(self.namespace)
            self._on_resync()
            if self._feed_trouble.recovered() is not None:
                log.info("the change feed of namespace %s works again", self.namespace)
        try:
            async for tasks in self._feed:
                for task in tasks:
                    if task.idempotency_key in self._refs:
                        self.offer(task.idempotency_key, task)
        finally:
            self._feed.close()
            self._feed = None
        raise StoreError("the change feed ended")  # closed under us: open it again

    def _feed_failed(self, exc: Exception) -> float:
        """The delay before reopening the feed; ServiceFailed when a bug repeats."""
        restarts = self.feed_restarts
        if not restarts.policy.restartable(exc):
            return restarts.failed(exc)  # a bug: logged with its traceback, or gives up
        delay = restarts.backoff.next()
        cause = describe(exc)
        if self._feed_trouble.failed(cause) == logging.WARNING:
            log.warning("the change feed of namespace %s failed: %s; reopening it (repeats "
                        "of this are logged at debug level)", self.namespace, cause)
        else:
            log.debug("the change feed of namespace %s failed again: %s", self.namespace,
                      cause)
        return delay

    async def _read_all(self) -> None:
        """Every submitted Task's record again, in batched reads (not one per Task)."""
        uids = {ref.task_id: uid for uid, ref in self._refs.items()
                if ref.task_id is not None and uid not in self._dirty}
        try:
            tasks = await self.client.get_many(list(uids))
        except KubetaskError as exc:
            log.warning("could not read the %d tasks of namespace %s again: %s", len(uids),
                        self.namespace, exc)
            return
        for task in tasks:  # a task deleted meanwhile is simply not among them
            self._dirty[uids[task.id]] = task

    async def _write(self, dirty: dict[str, Task]) -> None:
        limit = asyncio.Semaphore(PATCHES_AT_ONCE)

        async def one(uid: str, task: Task) -> None:
            async with limit:
                await self._patch(uid, task)

        await asyncio.gather(*(one(uid, task) for uid, task in dirty.items()))

    async def _patch(self, uid: str, task: Task) -> None:
        ref = self._refs.get(uid)
        if ref is None:
            return
        now = iso(time.time()) or ""
        status = mapping.task_status(task, ref.generation)
        wanted = [mapping.finished_condition(task, now, ref.generation)]
        if task.state is TaskState.PENDING:
            wanted.append(self._queue_condition(ref, now))
        status["conditions"] = self._conditions(ref, wanted)
        try:
            await self._kube.patch_status("tasks", self.namespace, ref.name, status)
        except NotFound:
            self._refs.pop(uid, None)
            self.hooks.followed(self.namespace, len(self._refs))
            return
        except Exception:  # the API server's trouble: retried after the linger
            log.exception("could not write the status of Task %s/%s", self.namespace, ref.name)
            self._dirty.setdefault(uid, task)
            self._wake.set()
            return
        self.hooks.status_patched(self.namespace)
        previous, ref.phase, ref.task_id = ref.phase, status["phase"], task.id
        if ref.phase == "Dead" and previous != "Dead":
            self._remember(self._kube.event(
                "Task", self.namespace, ref.name, uid, reason="TaskDead", type_="Warning",
                message=f"task {task.id} is dead after {task.attempts} attempt(s): {task.error}"))
        if ref.phase in mapping.FINISHED_PHASES:
            self._expire_later(ref, status["completionTime"])

    def _queue_condition(self, ref: TaskRef, now: str) -> dict[str, Any]:
        if ref.queue in self.queues:
            return mapping.condition("QueueReady", True, "TaskQueueExists",
                                     f"TaskQueue {ref.queue} exists", now, ref.generation)
        return mapping.condition(
            "QueueReady", False, "NoTaskQueue",
            f"no TaskQueue named {ref.queue} in namespace {self.namespace}: the task waits "
            "in etcd until one exists (its scheduler dispatches it)", now, ref.generation)

    @staticmethod
    def _conditions(ref: TaskRef, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`wanted` merged into the Task's conditions, keeping a transition's time."""
        for cond in wanted:
            old = ref.conditions.get(cond["type"])
            if old is not None and old.get("status") == cond["status"]:
                cond["lastTransitionTime"] = old.get("lastTransitionTime", cond["lastTransitionTime"])
            ref.conditions[cond["type"]] = cond
        return list(ref.conditions.values())

    # --- ttlSecondsAfterFinished ------------------------------------------------------------
    def _expire_later(self, ref: TaskRef, completion: str | None) -> None:
        if ref.ttl is None or ref.uid in self._timers:
            return
        finished = _parse_time(completion) or time.time()
        delay = max(0.0, finished + ref.ttl - time.time())
        self._timers[ref.uid] = asyncio.get_running_loop().call_later(
            delay, lambda: self._remember(self._expire(ref)))

    async def _expire(self, ref: TaskRef) -> None:
        self._timers.pop(ref.uid, None)
        with contextlib.suppress(NotFound):
            await self._kube.delete("tasks", self.namespace, ref.name)
            log.info("Task %s/%s deleted %ss after it finished", self.namespace, ref.name, ref.ttl)

    async def _refuse(self, ref: TaskRef, why: str) -> None:
        now = iso(time.time()) or ""
        cond = mapping.condition("Submitted", False, "InvalidSpec", why, now, ref.generation)
        with contextlib.suppress(NotFound):
            await self._kube.patch_status("tasks", self.namespace, ref.name, {
                "phase": mapping.INVALID_PHASE, "conditions": self._conditions(ref, [cond]),
                "observedGeneration": ref.generation})
            await self._kube.event("Task", self.namespace, ref.name, ref.uid,
                                   reason="InvalidSpec", message=why, type_="Warning")

    def _remember(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    from datetime import datetime
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
