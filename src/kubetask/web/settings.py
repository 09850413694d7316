"""Dashboard settings, grouped."""

from __future__ import annotations

from dataclasses import dataclass

from kubetask.model import EtcdCredentials


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    etcd_endpoints: str = "localhost:2379"
    namespace: str = "default"
    etcd_credentials: EtcdCredentials | None = None  # TLS files, etcd user
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (tests)
    allow_writes: bool = False  # True: anyone who reaches the port may submit/cancel/retry
    token: str | None = None  # writes with `Authorization: Bearer <token>` are allowed
    stats_interval: float = 1.0  # seconds between stats snapshots on the event stream
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of tasks; each payload is capped apart
    max_batch: int = 1000  # tasks per POST /api/v1/tasks:batch

    @property
    def writes(self) -> str:
        """How writes are allowed: `open`, `token` (bearer token needed) or `disabled`."""
        if self.allow_writes:
            return "open"
        return "token" if self.token else "disabled"
