"""Worker-side writes of an attempt: start, finish, hand back. Each is fenced on the claim.

A claim is the assignment key (named after the lease of the worker's session) and the
revision it was written at (its fencing token). Every transaction also compares the worker
key's lease with the session's: if the worker stalls past its TTL, its key is gone (or
under the lease of a newer session), the compare fails, and nothing the stale attempt says
is accepted; the leader hands the task back, which deletes the assignment.

Each transaction that ends attempts also rewrites the worker's tally (its succeeded and
failed-attempt counts, one key under its lease): one more operation per batch, none per
task, and the tally moves at exactly the revisions the queue's indexes move.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from kubetask.model import Tally, Task, TaskState
from kubetask.queue import codec
from kubetask.queue.indexes import index_move
from kubetask.store import Compare, Delete, Keyspace, Op, Put, Store, chunks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claim:
    task: Task  # as assigned
    key: str  # the assignment key (the task's index entry while assigned or running)
    token: int  # its mod revision: the fencing token


@dataclass(frozen=True, slots=True)
class Write:
    """One fenced write: the record after this step, and the index moves that go with it."""

    claim: Claim
    after: Task
    final: bool  # the attempt ends (the claim is released)
    failed: bool = False  # the attempt failed (counted in the failures index)
    cancel_requested: bool = False


@dataclass(slots=True)
class WorkerTally:
    """The worker's committed tally and where it is written (the key under its lease).
    Owned by the worker (it outlives a session); the lease is that of the session."""

    key: str
    counts: Tally
    lease: int = 0

    def put(self, counts: Tally) -> Put:
        return Put(self.key, orjson.dumps(counts.to_dict()), lease=self.lease)


def _tallied(write: Write) -> tuple[int, int]:
    """(succeeded, failed attempts) that `write` adds to its worker's tally: exactly when it
    writes a `done/succeeded` key or a failure key."""
    succeeded = write.final and write.after.state is TaskState.SUCCEEDED
    return int(succeeded), int(write.failed)


class AttemptLog:
    """Commits starts and ends of attempts for one worker, many per transaction."""

    def __init__(self, store: Store, keys: Keyspace, worker_key: str, lease: int,
                 tally: WorkerTally | None = None) -> None:
        self.store = store
        self.keys = keys
        self.tally = tally
        # The session's fence: its worker key still under its lease.
        self._alive = Compare(worker_key, "lease", "==", lease)

    def _ops(self, write: Write) -> list[Op]:
        task = write.after
        blob = codec.dump(task)
        ops: list[Op] = [Put(self.keys.task(task.id), blob)]
        if not write.final:
            return ops
        ops += index_move(self.keys, write.claim.key, task, blob)  # the claim goes
        if write.failed:
            # keyed by the attempt's number, which never repeats (a retried dead task's
            # `attempts` starts again at 1, and its failures must not overwrite the first ones)
            ops.append(Put(self.keys.failure(task.queue, task.id,
                                             write.claim.task.attempt_number), b""))
        if write.cancel_requested or task.state is TaskState.CANCELLED:
            ops.append(Delete(self.keys.cancel(task.id)))
        return ops

    async def landed(self, write: Write) -> bool:
        """After an unknown outcome: did `write` commit (the record shows it)?"""
        kv = await self.store.get(self.keys.task(write.after.id))
        if kv is None:
            return False
        now = codec.load(kv.value)
        return (now.state, now.attempts, now.worker, now.finished_at) == (
            write.after.state, write.after.attempts, write.after.worker, write.after.finished_at)

    async def commit(self, writes: Sequence[Write], outcome: dict[str, bool], *,
                     uncertain: bool = False) -> None:
        """Commit `writes`, noting in `outcome` each task id's result once known: True
        committed, False its claim was stale (nothing of it was written). On StoreError the
        writes not in `outcome` have an unknown outcome: commit those again with
        `uncertain` (a stale claim is then checked against the record: our own earlier
        try may have landed)."""
        items = [(write, self._ops(write)) for write in writes]
        for group in chunks(items, ops_per_item=[len(ops) for _, ops in items],
                            size_of=[sum(len(o.value) for o in ops if isinstance(o, Put))
                                     for _, ops in items],
                            extra_ops=int(self.tally is not None)):  # the tally's put
            await self._commit_group(group, outcome, uncertain)

    async def _commit_group(self, group: list[tuple[Write, list[Op]]],
                            outcome: dict[str, bool], uncertain: bool) -> None:
        compares = [self._alive,
                    *(Compare.mod_revision(w.claim.key, w.claim.token) for w, _ in group)]
        ops = [op for _, item_ops in group for op in item_ops]
        counts = None
        if self.tally is not None:
            succeeded = failed = 0
            for write, _ in group:
                s, f = _tallied(write)
                succeeded += s
                failed += f
            if succeeded or failed:
                counts = self.tally.counts.plus(succeeded, failed)
                ops.append(self.tally.put(counts))
        result = await self.store.txn(compares, ops)
        if result.succeeded:
            if counts is not None and self.tally is not None:
                self.tally.counts = counts
            outcome.update((w.after.id, True) for w, _ in group)
            return
        if len(group) > 1:
            for item in group:
                await self._commit_group([item], outcome, uncertain)
            return
        write = group[0][0]
        if uncertain and await self.landed(write):
            # Our own earlier try landed (its answer was lost): its tally went with it.
            if self.tally is not None:
                self.tally.counts = self.tally.counts.plus(*_tallied(write))
            outcome[write.after.id] = True
            return
        log.warning("task %s: claim %d is stale (lease expired or reassigned); "
                    "dropping this attempt's %s", write.after.id, write.claim.token,
                    write.after.state.value)
        outcome[write.after.id] = False
