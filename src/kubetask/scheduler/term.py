"""One leadership term: the loops the leader of a queue runs until it stops leading.

- dispatch: pending tasks -> workers with free slots, then prefetch room (watch-driven,
  batched);
- promote: delayed tasks whose time has come -> pending;
- recover: tasks of lost workers -> pending, and a periodic reconciliation sweep.
The leader's views follow etcd by ListWatch (list, watch, re-list on compaction).
"""

from __future__ import annotations

import asyncio
import logging
import time

from kubetask.errors import LeaseLost
from kubetask.queue import Dispatcher, Placement
from kubetask.scheduler.janitor import Janitor
from kubetask.scheduler.pending_heads import PendingHeads
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.scheduler.strategies import Strategy
from kubetask.scheduler.view import WorkerView
from kubetask.store import Compare, Event, Get, Keyspace, ListWatch, RangeResult, Store, revision_only
from kubetask.wakeup import wait_until_set

log = logging.getLogger(__name__)


class LeaderTerm:
    def __init__(self, store: Store, keys: Keyspace, settings: SchedulerSettings,
                 strategy: Strategy, fence: Compare, metrics: TermMetrics | None = None) -> None:
        self.store = store
        self.keys = keys
        self.settings = settings
        self.queue = settings.queue
        self.strategy = strategy
        self.fence = fence
        self.dispatcher = Dispatcher(store, keys, settings.queue)
        self.view = WorkerView(keys, settings.queue)
        self.pending = PendingHeads(keys, settings.priority_aging_seconds)
        self.metrics = metrics or TermMetrics()
        self._dispatch_wake = asyncio.Event()
        self._delayed_wake = asyncio.Event()
        self._recover_wake = asyncio.Event()
        self._backlog = False  # the last round filled every free slot

    async def run(self) -> None:
        """Run until leadership is lost (raises NotLeader) or cancelled. A failure of one
        loop ends the term: alone, it is raised as it is; several come as their group."""
        q = self.queue
        # Only this leader puts assignments (it settles them itself): deletes suffice.
        # Pending and delayed keys are read when needed: their listing is a revision.
        follows = [
            (ListWatch(self.store, self.keys.workers(q), on_list=self._load_workers),
             self._on_workers),
            (ListWatch(self.store, self.keys.assignments_all(q), on_list=self._load_active,
                       keys_only=True, deletes_only=True), self._on_active),
            (ListWatch(self.store, self.keys.pending_all(q), on_list=self._reset_pending,
                       read=revision_only(self.store), puts_only=True), self._on_pending),
            (ListWatch(self.store, self.keys.delayed_all(q), on_list=self._relisted,
                       read=revision_only(self.store), puts_only=True), self._on_delayed),
            (ListWatch(self.store, self.keys.drains(q), on_list=self._load_drains,
                       keys_only=True), self._on_drains),
        ]
        try:
            for follow, _ in follows:
                await follow.list()
            async with asyncio.TaskGroup() as group:
                for follow, on_events in follows:
                    group.create_task(follow.run(on_events), name=f"watch {follow.prefix}")
                group.create_task(self._dispatch_loop(), name="dispatch")
                group.create_task(self._promote_loop(), name="promote")
                group.create_task(self._recover_loop(), name="recover")
                group.create_task(self._janitor_loop(), name="janitor")
        except ExceptionGroup as failures:
            if len(failures.exceptions) == 1:
                raise failures.exceptions[0] from None
            raise
        finally:
            for follow, _ in follows:
                follow.close()

    # --- list + watch ------------------------------------------------------------
    def _load_workers(self, result: RangeResult) -> None:
        self.view.load_workers(result.kvs)
        self._wake_all()

    def _load_active(self, result: RangeResult) -> None:
        self.view.load_active(result.kvs)
        self._wake_all()

    def _load_drains(self, result: RangeResult) -> None:
        self.view.load_drains(result.kvs)
        self._wake_all()

    def _on_drains(self, events: list[Event]) -> None:
        self.view.apply_drain_events(events)  # a drain undone frees slots again
        self._dispatch_wake.set()

    def _reset_pending(self, result: RangeResult) -> None:
        self.pending = PendingHeads(self.keys, self.settings.priority_aging_seconds)
        self._wake_all()

    def _relisted(self, result: RangeResult) -> None:
        self._wake_all()

    def _wake_all(self) -> None:
        self._dispatch_wake.set()
        self._delayed_wake.set()
        self._recover_wake.set()

    def _on_workers(self, events: list[Event]) -> None:
        if self.view.apply_worker_events(events):
            self._recover_wake.set()
        self._dispatch_wake.set()

    def _on_active(self, events: list[Event]) -> None:
        if self.view.apply_active_events(events):
            self._dispatch_wake.set()

    def _on_pending(self, events: list[Event]) -> None:
        for event in events:
            self.pending.add(event.kv)
        self._dispatch_wake.set()

    def _on_delayed(self, events: list[Event]) -> None:
        self._delayed_wake.set()

    # --- dispatch ------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            await self._dispatch_wake.wait()
            self._dispatch_wake.clear()
            if self._backlog:
                await self._gather_room()
            while await self._dispatch_round():
                pass

    async def _gather_room(self) -> None:
        """Tasks are waiting for room: let slots (and prefetch room) that free up within
        the linger join this round (one transaction instead of several); stop waiting at
        half the room."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.dispatch_linger
        target = min(self.settings.max_batch, max(1, self.view.accepting_room() // 2))
        while self.view.room() < target:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._dispatch_wake.clear()
            await wait_until_set(self._dispatch_wake, remaining)

    async def _dispatch_round(self) -> bool:
        """Place as many pending tasks as there are free slots and prefetch room. True: go
        again at once."""
        room = self.view.room()
        if room == 0:
            return False
        want = min(room, self.settings.max_batch)
        # One heads object for the whole round: the sweep may swap in a fresh one while
        # we read, and filling that one halfway would leave a level looking empty.
        heads = self.pending
        for priority in heads.levels_to_read(want):
            kvs, more = await self.dispatcher.read_pending(priority, self.settings.max_batch)
            heads.fill(priority, kvs, more)
        placements = self._place(heads, want)
        self._backlog = len(placements) == room
        if not placements:
            return False
        committed = await self._commit(placements)
        return len(placements) == want or len(committed) < len(placements)

    def _place(self, heads: PendingHeads, want: int) -> list[Placement]:
        """Pick a worker for up to `want` buffered pending tasks (slots reserved): a free
        slot if any worker has one for the task, else prefetch room (a task goes into a
        worker's prefetch only when no free slot can take it)."""
        placements: list[Placement] = []
        now = time.time()
        # Scan past tasks no free worker can take (their type's workers are busy), so they
        # do not block tasks of other types behind them.
        for item in heads:
            if len(placements) == want:
                break
            # A type no worker knows may belong to a worker that is just joining: give it
            # a moment before the task is sent anywhere to fail.
            waited = now - item.task.created_at >= self.settings.unknown_type_grace
            candidates = (self.view.candidates(item.task.type, any_worker=waited)
                          or self.view.candidates(item.task.type, any_worker=waited,
                                                  prefetch=True))
            if not candidates:
                continue  # no free worker for this type; others may still fit
            worker = self.strategy.pick(candidates)
            self.view.reserve(worker, item.task.id)
            rank = heads.effective(item, now)  # its own priority unless aging raised it
            placements.append(Placement(item, worker.id, worker.lease,
                                        None if rank == item.task.priority else rank))
        return placements

    async def _commit(self, placements: list[Placement]) -> list[Placement]:
        committed: list[Placement] = []
        try:
            committed = await self.dispatcher.assign(placements, self.fence)
            for p in placements:  # committed, or changed under us (cancelled): gone
                self.pending.discard(p.pending.kv.key, p.pending.kv.mod_revision)
        except LeaseLost:
            # A worker died between our view and the commit: refresh the view and retry.
            self._load_workers(await self.store.range_all(Get(self.keys.workers(self.queue),
                                                              prefix=True)))
        finally:
            done = {p.pending.task.id for p in committed}
            for p in placements:
                self.view.settle(p.worker, p.pending.task.id,
                                 committed=p.pending.task.id in done)
        now = time.time()
        for p in committed:
            self.metrics.dispatched(now - p.pending.task.created_at, p.pending.task.priority)
        return committed

    # --- delayed -> pending --------------------------------------------------------
    async def _promote_loop(self) -> None:
        while True:
            due, next_due = await self.dispatcher.due_delayed(time.time())
            if due:
                await self.dispatcher.promote(due, self.fence)
                continue
            self._delayed_wake.clear()
            timeout = None if next_due is None else max(next_due - time.time(), 0.01)
            await wait_until_set(self._delayed_wake, timeout)

    # --- housekeeping ------------------------------------------------------------------
    async def _janitor_loop(self) -> None:
        janitor = Janitor(self.store, self.keys, self.settings)
        while True:
            await janitor.sweep(self.fence)
            await asyncio.sleep(self.settings.janitor_interval)

    # --- recovery and reconciliation ---------------------------------------------------
    async def _recover_loop(self) -> None:
        while True:
            for orphan in await self.dispatcher.orphans():
                state = await self.dispatcher.requeue_orphan(orphan, self.fence)
                if state is not None:
                    log.warning("task %s: worker %s lost; task is now %s",
                                self.keys.task_id_of(orphan.key),
                                self.dispatcher.worker_of(orphan), state.value)
                    self.metrics.recovered()
            # Reconciliation: anything a watch missed is picked up by the next rounds, and
            # the pending buffer is read afresh.
            self.pending = PendingHeads(self.keys, self.settings.priority_aging_seconds)
            self._dispatch_wake.set()
            self._delayed_wake.set()
            self._recover_wake.clear()
            await wait_until_set(self._recover_wake, self.settings.sweep_interval)


class TermMetrics:
    """Hooks for figures a term produces (no-ops; the web layer plugs in Prometheus)."""

    def dispatched(self, wait_seconds: float, priority: int) -> None:
        """A task was assigned after waiting `wait_seconds` since submission."""

    def recovered(self) -> None:
        """A lost worker's task was handed back."""
