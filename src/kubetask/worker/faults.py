"""Which errors a worker lives through, and how many bugs it takes to stop it.

etcd trouble (StoreError, also inside the session's ExceptionGroup) ends a session: the
worker registers again. Anything else is a bug: it is logged with its traceback, and
LIMIT of them within WINDOW seconds stop the worker (its `wait()` raises WorkerFailed, the
`kubetask worker` process exits 1), rather than loop on it as a warning forever. One bug
is lived through: a session restarts clean, and a stray error in one attempt should not
take the worker's other attempts down with it.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubetask.errors import KubetaskError, StoreError

LIMIT = 3
WINDOW = 60.0  # seconds


class WorkerFailed(KubetaskError):
    """The worker stopped itself: it kept hitting unexpected errors (their tracebacks are
    in its log)."""


def unexpected(exc: BaseException) -> BaseException | None:
    """The part of `exc` that is not etcd trouble (None when all of it is)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(StoreError)[1]
    return None if isinstance(exc, StoreError) else exc


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class FaultLimit:
    """Counts unexpected errors: `limit` of them within `window` seconds trip it."""

    limit: int = LIMIT
    window: float = WINDOW
    clock: Callable[[], float] = time.monotonic
    _times: collections.deque[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("limit must be at least 1 and window above 0")
        self._times = collections.deque(maxlen=self.limit)  # the last `limit` errors' times

    def note(self) -> bool:
        """One more unexpected error: True when it is the `limit`-th within the window."""
        now = self.clock()
        self._times.append(now)
        return len(self._times) == self.limit and now - self._times[0] <= self.window
