"""Workload sizes shared by both sides (the contract), and the progress logger."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

SLEEP_S = 0.010
SETTLE_S = 0.5

# The "c16" comparison: every system at equal total concurrency 16, near its own defaults
# (kubetask 2 workers x --max-concurrent 8; Dramatiq 2 processes x 8 threads; Celery 2 x
# `-P threads -c 8`; RQ 16 SimpleWorkers). Only the e2e_noop and e2e_sleep_10ms workloads.
C16 = "c16"
C16_TOTAL = 16
C16_PROCESSES = 2  # worker processes of kubetask, Dramatiq and Celery in the c16 comparison
BASE_PEERS = ("celery", "dramatiq", "rq")
C16_PEERS = tuple(f"{p}-{C16}" for p in BASE_PEERS)
C16_KUBETASK = f"kubetask-mc{C16_TOTAL // C16_PROCESSES}"


def is_c16(system: str) -> bool:
    """True for the systems of the c16 comparison (`kubetask-mc8`, `<peer>-c16`)."""
    return system == C16_KUBETASK or system.endswith(f"-{C16}")


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
