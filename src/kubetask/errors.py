"""The one exception tree every kubetask error hangs from."""

from __future__ import annotations


class KubetaskError(Exception):
    """Base of every error kubetask raises on purpose."""


class ValidationError(KubetaskError, ValueError):
    """Input was refused before anything was written; the message says what to fix."""


class StoreError(KubetaskError):
    """etcd refused or failed a request."""


class StoreUnavailable(StoreError):
    """etcd could not be reached (or did not answer in time); the outcome may be unknown."""


class AuthenticationFailed(StoreError):
    """etcd refused the credentials: a wrong user or password, or none where it wants some."""


class TransactionTooLarge(StoreError):
    """A transaction over etcd's per-transaction operation limit; it was never sent."""


class LeaseLost(StoreError):
    """The lease a process relied on no longer exists in etcd."""


class Compacted(StoreError):
    """A watch asked for history that etcd already compacted; re-list, then watch again."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"watch history compacted at revision {compact_revision}")
        self.compact_revision = compact_revision


class CorruptRecord(KubetaskError, ValueError):
    """A record read from etcd is not what kubetask writes (not JSON, or a wrong shape)."""


class TaskNotFound(KubetaskError, LookupError):
    """No task with that id exists in the namespace."""


class AmbiguousTaskId(ValidationError):
    """A task id prefix matches more than one task; `candidates` are some of them."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class QueueNotFound(KubetaskError, LookupError):
    """No queue of that name in the namespace: no task, worker or settings ever named it."""


class WorkerNotFound(KubetaskError, LookupError):
    """No worker with that id is registered on the queue (it left, or never came)."""


class TaskStateError(KubetaskError):
    """The task is not in a state that allows the requested action."""


class NotLeader(KubetaskError):
    """This scheduler lost (or never had) leadership of its queue."""


class ExecutorError(KubetaskError):
    """An executor could not run a task (unknown type, bad result)."""


class ServiceFailed(KubetaskError):
    """A long-running component failed with a bug (not an etcd error) again and again and
    was given up; its tracebacks are in the log. The process should exit non-zero."""
