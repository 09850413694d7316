"""A task has exactly one index entry, chosen by its state: the key, and the moves between keys.

    pending                 q/<queue>/pending/<3-priority>/<id>   (value: the record)
    pending with a run_at,  q/<queue>/delayed/<due-ms>/<id>       (value: the record)
      retrying
    assigned, running       q/<queue>/active/<worker>/<id>        (value: time of assignment)
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


def index_key(keys: Keyspace, task: Task) -> str:
    """The key of `task`'s one index entry in its current state."""
    state = task.state
    if state is _PENDING and task.run_at is None:
        return keys.pending(task.queue, task.priority, task.id)
    if state is _PENDING or state is _RETRYING:
        # a scheduled start (pending with a run_at) or a retry backoff: due at run_at
        if task.run_at is None:
            raise ValueError(f"task {task.id} is {state.value} without a run_at")
        return keys.delayed(task.queue, task.run_at, task.id)
    if state is _ASSIGNED or state is _RUNNING:
        if task.worker is None:
            raise ValueError(f"task {task.id} is {state.value} without a worker")
        return keys.active(task.queue, task.worker, task.id)
    return keys.done(task.queue, state.value, task.id)


def index_prefix(keys: Keyspace, queue: str, state: TaskState) -> str:
    """The prefix of the index that holds `queue`'s tasks in `state` (assigned and running
    share the active index; a pending task with a run_at is in the delayed one until due)."""
    if state is _PENDING:
        return keys.pending_all(queue)
    if state is _RETRYING:
        return keys.delayed_all(queue)
    if state is _ASSIGNED or state is _RUNNING:
        return keys.active_all(queue)
    return keys.done_state(queue, state.value)


def index_put(keys: Keyspace, task: Task, value: bytes) -> Put:
    """Put `task`'s index entry. `value` is what it holds: the record for a pending or
    delayed entry (dispatch reads tasks from them), the time of assignment for an active
    one; a done entry holds nothing (`value` is not written)."""
    return Put(index_key(keys, task), b"" if task.terminal else value)


def index_move(keys: Keyspace, before: Task | str, after: Task,
               value: bytes) -> tuple[Delete, Put]:
    """Move a task's index entry: delete that of `before` (a task, or the entry's key as
    read from the index) and put that of `after` (see index_put for `value`)."""
    old = before if isinstance(before, str) else index_key(keys, before)
    return Delete(old), index_put(keys, after, value)
