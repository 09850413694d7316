"""A failure that may last (etcd away, an API server down), logged so that a healthy system
stays quiet and an outage is told once: the first failure of a cause at WARNING, its
repeats at DEBUG, the recovery at INFO with how long it lasted. The caller keeps its own
words; this keeps the count, the cause and the time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Recovery:
    failures: int  # failed tries in a row before this success
    seconds: float  # since the first of them


class Trouble:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.cause: str | None = None  # of the failures in a row; None while it works
        self.failures = 0
        self._since = 0.0

    def failed(self, cause: str) -> int:
        """Note a failure: the level to log it at (WARNING for a new cause, else DEBUG)."""
        if self.cause is None:
            self._since = self._clock()
        self.failures += 1
        if cause == self.cause:
            return logging.DEBUG
        self.cause = cause
        return logging.WARNING

    def recovered(self) -> Recovery | None:
        """Note a success: after failures, what to tell at INFO; None when all was well."""
        if self.cause is None:
            return None
        recovery = Recovery(self.failures, self._clock() - self._since)
        self.cause, self.failures = None, 0
        return recovery
