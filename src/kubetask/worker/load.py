"""This worker process's load, from psutil: CPU % (of all cores) and memory %."""

from __future__ import annotations

import psutil


class LoadSampler:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self._cores = psutil.cpu_count() or 1
        self._process.cpu_percent(None)  # the first call only sets the baseline

    def sample(self) -> tuple[float, float]:
        cpu = self._process.cpu_percent(None) / self._cores
        memory = self._process.memory_percent()
        return round(min(cpu, 100.0), 1), round(memory, 2)

    def rss_bytes(self) -> int:
        return int(self._process.memory_info().rss)
