"""When the benchmark process saw each task appear, start and succeed (from a watch it runs
itself, on the monotonic clock), the operator's RSS sampled in a thread, and the summaries
of both."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import psutil

from bench.stats import percentile

MIB = 1024 * 1024


class Seen:
    """First sight of each task (by name or id): appeared, started (running or beyond; a
    quick task's Running may never be shown on its own), succeeded. Thread-safe."""

    def __init__(self) -> None:
        self.appeared: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def note(self, key: str, state: str | None) -> None:
        """One observed state of task `key` ("pending", "running", "succeeded", ... any case)."""
        now = time.monotonic()
        state = (state or "").lower()
        with self._lock:
            self.appeared.setdefault(key, now)
            if state in ("running", "succeeded"):
                self.started.setdefault(key, now)
            if state == "succeeded":
                self.succeeded.setdefault(key, now)
            elif state in ("dead", "cancelled"):
                self.failed[key] = state

    def created(self, key: str) -> None:
        """Task `key` exists from now on (its submit returned): wins over a first sight."""
        now = time.monotonic()
        with self._lock:
            self.appeared[key] = now

    def count_succeeded(self) -> int:
        with self._lock:
            return len(self.succeeded)


def spans_ms(ends: Mapping[str, float], begins: Mapping[str, float] | float) -> list[float]:
    """end - begin in ms for every key of `ends` (`begins`: per key, or one instant)."""
    return [(end - (begins if isinstance(begins, float) else begins[key])) * 1000.0
            for key, end in ends.items()]


def p50_p99(values: list[float]) -> tuple[float, float]:
    return round(percentile(values, 50), 1), round(percentile(values, 99), 1)


class RssSampler:
    """The peak RSS of one process, sampled every `interval` s in a daemon thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def now(self) -> float:
        """RSS in MiB now."""
        return float(self._process.memory_info().rss) / MIB

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        """Stop sampling; the peak seen, in MiB."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, self.now())
            except psutil.NoSuchProcess:
                return
