"""Retry policy: how many retries, and how long to wait before each (exponential, jittered)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`delay(n)` before retry n (1-based): min(cap, base * 2**(n-1)), scaled by jitter.

    Jitter is "equal jitter": half the delay is fixed, half random, so retries of many
    tasks that failed together spread out but never retry sooner than half the backoff.
    """

    max_retries: int = 3
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        ceiling = min(self.cap_seconds, self.base_seconds * float(2 ** (retry - 1)))
        draw: float = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2
