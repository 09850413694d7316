"""A task has exactly one index entry, chosen by its state: the key, and the moves between keys.

    pending                 q/<queue>/pending/<3-priority>/<id>   (value: the record)
    pending with a run_at,  q/<queue>/delayed/<due-ms>/<id>       (value: the record)
      retrying
    assigned, running       q/<queue>/assign/<worker>/<lease>/<id>  (value: the record as
                                                                  assigned; the assignment)
    succeeded, dead,        q/<queue>/done/<state>/<id>           (value: empty)
      cancelled

Every write that moves a task between states moves its index entry with `index_move`, in
the same transaction as the record, so the indexes stay a partition of the tasks.
"""

from __future__ import annotations

from kubetask.model import Task, TaskState
from kubetask.store import Delete, Keyspace, Put

_PENDING, _RETRYING = TaskState.PENDING, TaskState.RETRYING
_ASSIGNED, _RUNNING = TaskState.ASSIGNED, TaskState.RUNNING


def index_key(keys: Keyspace, task: Task, lease: int | None = None) -> str:
    """The key of `task`'s one index entry in its current state. An assigned or running
    task's entry is its assignment: it needs the `lease` it is claimed under."""
    state = task.state
    if state is _PENDING and task.run_at is None:
        return keys.pending(task.queue, task.priority, task.id)
    if state is _PENDING or state is _RETRYING:
        # a scheduled start (pending with a run_at) or a retry backoff: due at run_at
        if task.run_at is None:
            raise ValueError(f"task {task.id} is {state.value} without a run_at")
        return keys.delayed(task.queue, task.run_at, task.id)
    if state is _ASSIGNED or state is _RUNNING:
        if task.worker is None or lease is None:
            raise ValueError(f"task {task.id} is {state.value} without a worker and lease")
        return keys.assignment(task.queue, task.worker, lease, task.id)
    return keys.done(task.queue, state.value, task.id)


def index_prefix(keys: Keyspace, queue: str, state: TaskState) -> str:
    """The prefix of the index that holds `queue`'s tasks in `state` (assigned and running
    share the assignments; a pending task with a run_at is in the delayed one until due)."""
    if state is _PENDING:
        return keys.pending_all(queue)
    if state is _RETRYING:
        return keys.delayed_all(queue)
    if state is _ASSIGNED or state is _RUNNING:
        return keys.assignments_all(queue)
    return keys.done_state(queue, state.value)


def index_put(keys: Keyspace, task: Task, value: bytes, lease: int | None = None) -> Put:
    """Put `task`'s index entry. `value` is what it holds: the record for a pending,
    delayed or assigned entry (dispatch and the worker read tasks from them); a done entry
    holds nothing (`value` is not written)."""
    return Put(index_key(keys, task, lease), b"" if task.terminal else value)


def index_move(keys: Keyspace, before: Task | str, after: Task, value: bytes,
               lease: int | None = None) -> tuple[Delete, Put]:
    """Move a task's index entry: delete that of `before` (a task, or the entry's key as
    read from the index or claimed) and put that of `after` (see index_put for `value`;
    `lease`: the claim's, when `after` is assigned)."""
    old = before if isinstance(before, str) else index_key(keys, before)
    return Delete(old), index_put(keys, after, value, lease)
