"""Worker settings, grouped."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubetask.model import RetryPolicy
from kubetask.model.validation import MAX_PREFETCH

DEFAULT_PREFETCH_HOLD = 0.1
PREFETCH_PER_SLOT = 4  # the default --prefetch per --max-concurrent slot (as Celery's)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    queue: str = "default"
    node_id: str = "worker"
    max_concurrent: int = 10
    weight: int = 1
    lease_ttl: int = 10  # a dead worker's tasks are re-queued within TTL + 1 s
    shutdown_timeout: float = 30.0  # SIGTERM: how long running tasks may finish
    heartbeat_interval: float = 2.0  # how often load figures are refreshed in etcd
    # Tasks assigned beyond the free slots, waiting for one (0: strict placement; None:
    # four times max_concurrent, the default chosen from measurements; the worker advertises
    # fewer when its slots would not run them within half of prefetch_hold); one waiting
    # longer than prefetch_hold is handed back (docs/ARCHITECTURE.md, Prefetch).
    prefetch: int | None = None
    prefetch_hold: float = DEFAULT_PREFETCH_HOLD
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def prefetch_depth(self) -> int:
        """How many tasks the worker may hold beyond its free slots."""
        if self.prefetch is None:
            return min(PREFETCH_PER_SLOT * self.max_concurrent, MAX_PREFETCH)
        return self.prefetch
