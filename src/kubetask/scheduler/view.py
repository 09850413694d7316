"""The leader's picture of the queue's workers and the slots their tasks hold.

Fed by a list, then a watch, of the worker keys and of the assignments; and by the
leader's own committed assignments. Events and commits can arrive in either order, so
a task id deleted while its assignment commit was in flight is remembered (tombstone).
"""

from __future__ import annotations

import logging

import orjson

from kubetask.model import WorkerInfo
from kubetask.scheduler.strategies import Candidate
from kubetask.store import Event, Keyspace, KeyValue

log = logging.getLogger(__name__)


class WorkerView:
    def __init__(self, keys: Keyspace, queue: str) -> None:
        self.keys = keys
        self.queue = queue
        self.workers: dict[str, Candidate] = {}
        self._orphan_active: dict[str, set[str]] = {}  # active tasks of workers not seen yet
        self._inflight: set[str] = set()
        self._tombstones: set[str] = set()
        self._drained: set[str] = set()  # workers asked to drain (they get no new tasks)

    # --- workers -------------------------------------------------------------
    def load_workers(self, kvs: list[KeyValue]) -> None:
        seen = set()
        for kv in kvs:
            self._upsert_worker(kv)
            seen.add(self.keys.worker_id_of(kv.key))
        for gone in set(self.workers) - seen:
            self._drop_worker(gone)

    def _upsert_worker(self, kv: KeyValue) -> bool:
        """True when a known worker came back under another lease (a new session: the
        claims of the old one are orphans)."""
        info = WorkerInfo.from_dict(orjson.loads(kv.value))
        current = self.workers.get(info.id)
        renewed = current is not None and current.lease != kv.lease
        if current is None:
            current = Candidate(info.id, kv.lease, info.capacity)
            current.active = self._orphan_active.pop(info.id, set())
            self.workers[info.id] = current
            log.info("worker %s joined (capacity %d, weight %d)", info.id, info.capacity,
                     info.weight)
        current.lease = kv.lease
        current.capacity = info.capacity
        current.weight = info.weight
        current.prefetch = info.prefetch
        current.cpu_percent = info.cpu_percent
        current.memory_percent = info.memory_percent
        current.accepting = info.accepting and info.id not in self._drained
        current.reported_accepting = info.accepting
        current.types = frozenset(info.types)
        return renewed

    def _drop_worker(self, worker: str) -> None:
        gone = self.workers.pop(worker, None)
        if gone is not None:
            log.info("worker %s left (%d tasks held)", worker, len(gone.active))

    def apply_worker_events(self, events: list[Event]) -> bool:
        """Returns True when a worker left or registered again (its tasks may need
        recovery)."""
        lost = False
        for event in events:
            if event.put:
                lost |= self._upsert_worker(event.kv)
            else:
                self._drop_worker(self.keys.worker_id_of(event.key))
                lost = True
        return lost

    # --- drain requests ----------------------------------------------------------
    def load_drains(self, kvs: list[KeyValue]) -> None:
        self._drained = {self.keys.worker_of_drain(kv.key) for kv in kvs}
        for worker in self.workers.values():
            self._follow_drain(worker)

    def apply_drain_events(self, events: list[Event]) -> None:
        """A drain request stops assignments to its worker at once, before the worker's
        own record says it drains; its undo lets the record decide again."""
        for event in events:
            worker = self.keys.worker_of_drain(event.key)
            (self._drained.add if event.put else self._drained.discard)(worker)
            if worker in self.workers:
                self._follow_drain(self.workers[worker])

    def _follow_drain(self, worker: Candidate) -> None:
        worker.accepting = worker.reported_accepting and worker.id not in self._drained

    # --- assigned tasks ----------------------------------------------------------
    def load_active(self, kvs: list[KeyValue]) -> None:
        """The assignments of the queue (keys)."""
        for candidate in self.workers.values():
            candidate.active.clear()
        self._orphan_active.clear()
        for kv in kvs:
            worker, _ = self.keys.claim_of(kv.key)
            self._holder(worker).add(self.keys.task_id_of(kv.key))

    def _holder(self, worker: str) -> set[str]:
        if worker in self.workers:
            return self.workers[worker].active
        return self._orphan_active.setdefault(worker, set())

    def apply_active_events(self, events: list[Event]) -> bool:
        """Returns True when a slot was freed."""
        freed = False
        for event in events:
            worker, _ = self.keys.claim_of(event.key)
            task_id = self.keys.task_id_of(event.key)
            if event.put:
                if task_id not in self._tombstones:
                    self._holder(worker).add(task_id)
            else:
                if task_id in self._inflight:
                    self._tombstones.add(task_id)
                self._holder(worker).discard(task_id)
                freed = True
        return freed

    # --- placements --------------------------------------------------------------
    def candidates(self, task_type: str, *, any_worker: bool,
                   prefetch: bool = False) -> list[Candidate]:
        """Workers with a free slot (`prefetch`: with prefetch room instead) that can run
        `task_type`. When no worker of the queue knows the type at all and `any_worker`,
        any worker: the task then ends dead with a clear error instead of waiting forever."""
        free = [w for w in self.workers.values() if (w.room if prefetch else w.free) > 0]
        able = [w for w in free if task_type in w.types]
        if able or not any_worker or any(task_type in w.types for w in self.workers.values()):
            return able
        return free

    def free_slots(self) -> int:
        return sum(w.free for w in self.workers.values())

    def room(self) -> int:
        """Tasks the workers may still take, free slots and prefetch room."""
        return sum(w.room for w in self.workers.values())

    def accepting_room(self) -> int:
        """Slots and prefetch room of the workers taking tasks, all free or not."""
        return sum(w.capacity + w.prefetch for w in self.workers.values() if w.accepting)

    def reserve(self, worker: Candidate, task_id: str) -> None:
        worker.reserved.add(task_id)
        self._inflight.add(task_id)

    def settle(self, worker_id: str, task_id: str, *, committed: bool) -> None:
        """The commit of a reservation returned."""
        self._inflight.discard(task_id)
        worker = self.workers.get(worker_id)
        if worker is not None:
            worker.reserved.discard(task_id)
        if task_id in self._tombstones:
            self._tombstones.discard(task_id)  # it already finished
        elif committed:
            self._holder(worker_id).add(task_id)
