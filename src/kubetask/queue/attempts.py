"""Worker-side writes of an attempt: start, finish, hand back. Each is fenced on the claim.

A claim is the assignment key and the revision it was written at (its fencing token).
The assignment lives under the worker's lease: if the worker stalls past its TTL, the key
is gone, every compare on it fails, and nothing the stale attempt says is accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kubetask.model import Task, TaskState
from kubetask.queue import codec
from kubetask.store import MAX_TXN_BYTES, MAX_TXN_OPS, Compare, Delete, Keyspace, Op, Put, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claim:
    task: Task  # as assigned
    key: str  # the assignment key
    token: int  # its mod revision: the fencing token


@dataclass(frozen=True, slots=True)
class Write:
    """One fenced write: the record after this step, and the index moves that go with it."""

    claim: Claim
    after: Task
    final: bool  # the attempt ends (the claim is released)
    failed: bool = False  # the attempt failed (counted in the failures index)
    cancel_requested: bool = False


class AttemptLog:
    """Commits starts and ends of attempts for one worker, many per transaction."""

    def __init__(self, store: Store, keys: Keyspace, worker: str) -> None:
        self.store = store
        self.keys = keys
        self.worker = worker

    def _ops(self, write: Write) -> list[Op]:
        task = write.after
        blob = codec.dump(task)
        ops: list[Op] = [Put(self.keys.task(task.id), blob)]
        if not write.final:
            return ops
        ops += [Delete(write.claim.key), Delete(self.keys.active(task.queue, self.worker, task.id))]
        if task.state is TaskState.RETRYING:
            assert task.run_at is not None
            ops.append(Put(self.keys.delayed(task.queue, task.run_at, task.id), blob))
        elif task.state is TaskState.PENDING:
            ops.append(Put(self.keys.pending(task.queue, task.priority, task.id), blob))
        else:
            ops.append(Put(self.keys.done(task.queue, task.state.value, task.id), b""))
        if write.failed:
            ops.append(Put(self.keys.failure(task.queue, task.id, write.claim.task.attempts), b""))
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

    async def commit(self, writes: Sequence[Write]) -> set[str]:
        """Commit `writes`. Returns the ids of the tasks whose claim was stale: nothing of
        theirs was written."""
        stale: set[str] = set()
        groups: list[list[tuple[Write, list[Op]]]] = [[]]
        ops_in, bytes_in = 0, 0
        for write in writes:
            ops = self._ops(write)
            size = sum(len(o.value) for o in ops if isinstance(o, Put))
            if groups[-1] and (ops_in + len(ops) > MAX_TXN_OPS or bytes_in + size > MAX_TXN_BYTES):
                groups.append([])
                ops_in, bytes_in = 0, 0
            groups[-1].append((write, ops))
            ops_in += len(ops)
            bytes_in += size
        for group in groups:
            if group:
                stale |= await self._commit_group(group)
        return stale

    async def _commit_group(self, group: list[tuple[Write, list[Op]]]) -> set[str]:
        compares = [Compare.mod_revision(w.claim.key, w.claim.token) for w, _ in group]
        ops = [op for _, item_ops in group for op in item_ops]
        result = await self.store.txn(compares, ops)
        if result.succeeded:
            return set()
        if len(group) == 1:
            write = group[0][0]
            log.warning("task %s: claim %d is stale (lease expired or reassigned); "
                        "dropping this attempt's %s", write.after.id, write.claim.token,
                        write.after.state.value)
            return {write.after.id}
        stale: set[str] = set()
        for item in group:
            stale |= await self._commit_group([item])
        return stale
