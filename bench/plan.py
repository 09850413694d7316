"""Workload sizes shared by both sides (the contract), and the progress logger."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

SLEEP_S = 0.010
SETTLE_S = 0.5


@dataclass(frozen=True)
class Plan:
    """Sizes of every workload and how many runs to take the median over."""

    runs: int
    n_noop: int
    n_sleep: int
    n_submit: int
    latency: tuple[tuple[float, int], ...]


FULL = Plan(runs=3, n_noop=10_000, n_sleep=2_000, n_submit=10_000, latency=((50, 500), (10, 100)))
QUICK = Plan(runs=1, n_noop=2_000, n_sleep=300, n_submit=2_000, latency=((50, 100), (10, 30)))


def log(msg: str) -> None:
    """Progress line on stderr (stdout carries the Markdown table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
