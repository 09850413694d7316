"""Worker settings, grouped."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubetask.model import RetryPolicy


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    queue: str = "default"
    node_id: str = "worker"
    max_concurrent: int = 10
    weight: int = 1
    lease_ttl: int = 10  # a dead worker's tasks are re-queued within TTL + 1 s
    shutdown_timeout: float = 30.0  # SIGTERM: how long running tasks may finish
    heartbeat_interval: float = 2.0  # how often load figures are refreshed in etcd
    retry: RetryPolicy = field(default_factory=RetryPolicy)
