"""What the worker advertises as its prefetch: its --prefetch, or 0 for a while after a
prefetched task waited past --prefetch-hold (so tasks do not bounce between busy workers)."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# Weight of the latest run time in the recent run times (an exponential moving average).
RUN_TIME_WEIGHT = 0.3


class PrefetchAdvert:
    """Paused by a task handed back after waiting past `hold`; resumed once a slot is free
    and recent run times (their moving average) are under `hold` again. `on_change` is
    called at each change, so the worker publishes its record at once."""

    def __init__(self, prefetch: int, hold: float, on_change: Callable[[], None]) -> None:
        self.prefetch = prefetch
        self.hold = hold
        self.paused = False
        self.run_time = 0.0  # moving average of recent run times (s)
        self._on_change = on_change

    @property
    def advertised(self) -> int:
        return 0 if self.paused else self.prefetch

    def held_too_long(self) -> None:
        """A prefetched task waited past the hold behind running ones: prefetch no more."""
        if not self.paused and self.prefetch:
            self.paused = True
            log.info("prefetch paused: a task waited over %gs for a slot (recent run time "
                     "%.3gs)", self.hold, self.run_time)
            self._on_change()

    def ended(self, run_seconds: float, free_slot: bool) -> None:
        """An attempt gave its slot back after running `run_seconds`."""
        self.run_time += RUN_TIME_WEIGHT * (run_seconds - self.run_time)
        if self.paused and free_slot and self.run_time < self.hold:
            self.paused = False
            log.info("prefetch resumed (recent run time %.3gs)", self.run_time)
            self._on_change()
