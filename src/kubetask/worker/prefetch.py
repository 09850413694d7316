"""What the worker advertises as its prefetch: none until its recent run times are short
(under --prefetch-hold), then as many tasks as its slots run within about half the hold at
those run times, at most --prefetch; none again after a prefetched task waited past the
hold (so tasks do not bounce between busy workers, and long tasks are never parked behind
each other)."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# Weight of the latest run time in the recent run times (an exponential moving average).
RUN_TIME_WEIGHT = 0.3


class PrefetchAdvert:
    """Paused at first and by a task handed back after waiting past `hold`; resumed once a
    slot is free and recent run times (their moving average) are under `hold`. While on,
    it advertises `level`: the tasks its `slots` run within half the hold at the recent run
    time, at most `prefetch` (a power of two below it, so that run times varying by less
    than twice change nothing). `on_change` is called at each change of what is advertised,
    so the worker publishes its record at once."""

    def __init__(self, prefetch: int, hold: float, on_change: Callable[[], None], *,
                 slots: int = 1) -> None:
        self.prefetch = prefetch
        self.hold = hold
        self.slots = slots
        self.level = prefetch
        self.paused = True  # earned: no run time is known yet
        self.run_time: float | None = None  # moving average of recent run times (s)
        self._on_change = on_change

    @property
    def advertised(self) -> int:
        return 0 if self.paused else self.level

    def fits(self) -> int:
        """Waiting tasks the slots drain within half the hold at the recent run time: the
        last of N waits about N / slots run times. At least 1, at most `prefetch`."""
        if not self.run_time:
            return self.prefetch
        return max(1, min(self.prefetch, int(self.slots * self.hold / (2 * self.run_time))))

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
        if not self.prefetch:
            return
        resized = self._resize()
        if self.paused and free_slot and self.run_time < self.hold:
            self.paused = False
            log.info("prefetch on: up to %d tasks beyond the free slots (recent run time "
                     "%.3gs)", self.level, self.run_time)
            self._on_change()
        elif resized and not self.paused:
            log.debug("prefetch: up to %d tasks beyond the free slots (recent run time "
                      "%.3gs)", self.level, self.run_time)
            self._on_change()

    def _resize(self) -> bool:
        """Shrink the level at once when fewer fit; grow it when twice as many fit."""
        fits = self.fits()  # a power of two below it: [level, 2 * level) keeps the level
        level = self.prefetch if fits >= self.prefetch else 1 << (fits.bit_length() - 1)
        if level == self.level:
            return False
        self.level = level
        return True
