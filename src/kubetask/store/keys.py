"""Every etcd key kubetask writes is spelled here, and only here.

Layout under `<prefix><namespace>/` (names are validated: they never contain `/`):

    tasks/<id>                             the task record (spec + status): the source of truth
    q/<queue>/pending/<3-priority>/<id>    pending index; value = the record; key order = dispatch order
    q/<queue>/delayed/<due-ms>/<id>        retry backoff and run-at tasks; value = the record
    q/<queue>/assign/<worker>/<lease>/<id> an assignment: assigned or running on <worker>,
                                           claimed under its session's lease (hex); value =
                                           the record as assigned. Not under the lease: when
                                           the lease dies the entry stays and the leader hands
                                           the task back (fenced on the worker key's lease)
    q/<queue>/done/<state>/<id>            finished (succeeded, dead, cancelled)
    q/<queue>/workers/<worker>             membership and load, under the worker's lease
    q/<queue>/tally/<worker>               the worker's succeeded and failed-attempt counts,
                                           written with its ends, under its lease
    q/<queue>/drain/<worker>               a drain request (the autoscaler's scale-in), under
                                           the worker's lease: it goes with the worker
    q/<queue>/leader/<lease-hex>           election candidates; lowest create revision leads
    q/<queue>/meta                         queue marker (so queues can be listed)
    q/<queue>/config                       the queue's defaults (retry policy), JSON
    q/<queue>/failures/<id>.<n>            one key per failed attempt, n its place in the task's
                                           history (exact counts, no hot key)
    q/<queue>/idem/<key>                   idempotency key -> task id
    cancel/<id>                            a cancel request for an assigned or running task

Task ids are time-ordered, so the pending index is FIFO within a priority.

Earlier builds gave an assigned task two keys: `q/<queue>/active/<worker>/<id>` and
`assign/<worker>/<id>` under the worker's lease (`legacy_*` below): the leader still
hands such tasks back after an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIORITY_SLOTS = 3  # pending/<3-priority>: urgent (3) sorts as 0, first


def prefix_end(prefix: str) -> str:
    """The exclusive end of the range of keys starting with `prefix` (all ASCII here)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class Keyspace:
    """Key builder for one namespace under one prefix."""

    prefix: str = "/kubetask/"
    namespace: str = "default"

    @property
    def root(self) -> str:
        return f"{self.prefix}{self.namespace}/"

    # --- tasks -----------------------------------------------------------------
    def task(self, task_id: str) -> str:
        return f"{self.root}tasks/{task_id}"

    def tasks(self) -> str:
        return f"{self.root}tasks/"

    def task_id_of(self, key: str) -> str:
        return key.rsplit("/", 1)[1]

    # --- queues ----------------------------------------------------------------
    def queue(self, queue: str) -> str:
        return f"{self.root}q/{queue}/"

    def queues(self) -> str:
        return f"{self.root}q/"

    def queue_meta(self, queue: str) -> str:
        return f"{self.queue(queue)}meta"

    def queue_config(self, queue: str) -> str:
        return f"{self.queue(queue)}config"

    def queue_of(self, key: str) -> str:
        return key[len(self.queues()) :].split("/", 1)[0]

    def pending(self, queue: str, priority: int, task_id: str) -> str:
        return f"{self.queue(queue)}pending/{PRIORITY_SLOTS - priority}/{task_id}"

    def pending_all(self, queue: str) -> str:
        return f"{self.queue(queue)}pending/"

    def pending_priority(self, queue: str, priority: int) -> str:
        return f"{self.queue(queue)}pending/{PRIORITY_SLOTS - priority}/"

    def priority_of_pending(self, key: str) -> int:
        return PRIORITY_SLOTS - int(key.rsplit("/", 2)[1])

    def delayed(self, queue: str, due: float, task_id: str) -> str:
        return f"{self.queue(queue)}delayed/{int(due * 1000):015d}/{task_id}"

    def delayed_all(self, queue: str) -> str:
        return f"{self.queue(queue)}delayed/"

    def due_of(self, delayed_key: str) -> float:
        return int(delayed_key.rsplit("/", 2)[1]) / 1000

    def assignment(self, queue: str, worker: str, lease: int, task_id: str) -> str:
        return f"{self.queue(queue)}assign/{worker}/{lease:x}/{task_id}"

    def assignments_all(self, queue: str) -> str:
        return f"{self.queue(queue)}assign/"

    def assignments_of_worker(self, queue: str, worker: str) -> str:
        return f"{self.queue(queue)}assign/{worker}/"

    def assignments(self, queue: str, worker: str, lease: int) -> str:
        """The assignments of one session of a worker (the prefix it watches)."""
        return f"{self.queue(queue)}assign/{worker}/{lease:x}/"

    def claim_of(self, key: str) -> tuple[str, int]:
        """(worker, lease) of an assignment key."""
        worker, lease = key.rsplit("/", 3)[1:3]
        return worker, int(lease, 16)

    # --- the earlier layout (read to hand back tasks assigned before an upgrade) -------
    def legacy_active_all(self, queue: str) -> str:
        return f"{self.queue(queue)}active/"

    def legacy_worker_of_active(self, key: str) -> str:
        return key.rsplit("/", 2)[1]

    def legacy_assignment(self, worker: str, task_id: str) -> str:
        return f"{self.root}assign/{worker}/{task_id}"

    def done(self, queue: str, state: str, task_id: str) -> str:
        return f"{self.queue(queue)}done/{state}/{task_id}"

    def done_state(self, queue: str, state: str) -> str:
        return f"{self.queue(queue)}done/{state}/"

    def workers(self, queue: str) -> str:
        return f"{self.queue(queue)}workers/"

    def worker(self, queue: str, worker: str) -> str:
        return f"{self.queue(queue)}workers/{worker}"

    def worker_id_of(self, worker_key: str) -> str:
        return worker_key.rsplit("/", 1)[1]

    def tallies(self, queue: str) -> str:
        return f"{self.queue(queue)}tally/"

    def tally(self, queue: str, worker: str) -> str:
        return f"{self.queue(queue)}tally/{worker}"

    def worker_of_tally(self, key: str) -> str:
        return key.rsplit("/", 1)[1]

    def drains(self, queue: str) -> str:
        return f"{self.queue(queue)}drain/"

    def drain(self, queue: str, worker: str) -> str:
        return f"{self.queue(queue)}drain/{worker}"

    def worker_of_drain(self, key: str) -> str:
        return key.rsplit("/", 1)[1]

    def failures(self, queue: str) -> str:
        return f"{self.queue(queue)}failures/"

    def failure(self, queue: str, task_id: str, attempt: int) -> str:
        return f"{self.queue(queue)}failures/{task_id}.{attempt}"

    def election(self, queue: str) -> str:
        return f"{self.queue(queue)}leader/"

    def idempotency(self, queue: str, key: str) -> str:
        return f"{self.queue(queue)}idem/{key}"

    # --- per task signals ------------------------------------------------------
    def cancels(self) -> str:
        return f"{self.root}cancel/"

    def cancel(self, task_id: str) -> str:
        return f"{self.root}cancel/{task_id}"
