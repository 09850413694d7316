"""What the worker advertises as its prefetch: its --prefetch once its recent run times are
short (under --prefetch-hold), else 0: a worker starts without prefetch, and stops after a
prefetched task waited past the hold (so tasks do not bounce between busy workers, and long
tasks are never parked behind each other)."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# Weight of the latest run time in the recent run times (an exponential moving average).
RUN_TIME_WEIGHT = 0.3


class PrefetchAdvert:
    """Paused at first and by a task handed back after waiting past `hold`; resumed once a
    slot is free and recent run times (their moving average) are under `hold`. `on_change`
    is called at each change, so the worker publishes its record at once."""

    def __init__(self, prefetch: int, hold: float, on_change: Callable[[], None]) -> None:
        self.prefetch = prefetch
        self.hold = hold
        self.paused = True  # earned: no run time is known yet
        self.run_time: float | None = None  # moving average of recent run times (s)
        self._on_change = on_change

    @property
    def advertised(self) -> int:
        return 0 if self.paused else self.prefetch

    def held_too_long(self) -> None:
        """A prefetched task waited past the hold behind running ones: prefetch no more."""
        if not self.paused and self.prefetch:
            self.paused = True
            log.info("prefetch paused: a task waited over %gs for a slot (recent run time "
                     "%.3gs)", self.hold, self.run_time or 0.0)
            self._on_change()

    def ended(self, run_seconds: float, free_slot: bool) -> None:
        """An attempt gave its slot back after running `run_seconds`."""
        if self.run_time is None:
            self.run_time = run_seconds
        else:
            self.run_time += RUN_TIME_WEIGHT * (run_seconds - self.run_time)
        if self.paused and self.prefetch and free_slot and self.run_time < self.hold:
            self.paused = False
            log.info("prefetch on: %d tasks beyond the free slots (recent run time %.3gs)",
                     self.prefetch, self.run_time)
            self._on_change()
