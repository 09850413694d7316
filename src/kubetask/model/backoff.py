"""Backoff: how long to wait before a task's next retry (RetryPolicy) and before a loop's
next reconnect or restart (Backoff). Both exponential, capped, with the same jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


def jittered(ceiling: float, rng: random.Random | None = None) -> float:
    """"Equal jitter": half of `ceiling` fixed, half random, so many clients that failed
    together spread out, but none comes back sooner than half the backoff."""
    draw: float = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A task's retries: `delay(n)` before retry n (1-based) is
    min(cap, base * 2**(n-1)), jittered."""

    max_retries: int = 3
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        return jittered(min(self.cap_seconds, self.base_seconds * float(2 ** (retry - 1))), rng)


class Backoff:
    """The delays of one reconnect, retry or restart loop: `first`, doubling up to `cap`,
    each jittered. `reset()` after a success starts again from `first`; with `reset_after`,
    so does a failure that comes that many seconds after the previous one (a service that
    ran well for a while is not held back by its old failures).

        backoff = Backoff(first=0.1, cap=2.0)
        while True:
            try:
                await connect()
                backoff.reset()
            except StoreUnavailable:
                await asyncio.sleep(backoff.next())
    """

    __slots__ = ("_clock", "_last", "_rng", "cap", "failures", "first", "reset_after")

    def __init__(self, first: float = 0.1, cap: float = 5.0, *,
                 reset_after: float | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap (got first={first}, cap={cap})")
        self.first = first
        self.cap = cap
        self.reset_after = reset_after
        self.failures = 0  # since the last reset
        self._rng = rng
        self._clock = clock
        self._last = 0.0

    def next(self) -> float:
        """The delay before the next try (counts one more failure)."""
        now = self._clock()
        if self.reset_after is not None and now - self._last >= self.reset_after:
            self.failures = 0
        self._last = now
        ceiling = min(self.cap, self.first * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return jittered(ceiling, self._rng)

    def reset(self) -> None:
        self.failures = 0
