"""What `kubetask operator` is told on its command line."""

from __future__ import annotations

from dataclasses import dataclass

from kubetask.model import EtcdCredentials


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    etcd_endpoints: str = "localhost:2379"
    namespace: str | None = None  # one Kubernetes namespace to watch; None: all
    etcd_credentials: EtcdCredentials | None = None  # the operator's own TLS files, etcd user
    # A Secret (in each TaskQueue's namespace) mounted into its workers at ETCD_TLS_DIR:
    # ca.crt, tls.crt, tls.key and, for etcd's user auth, user and password files.
    etcd_tls_secret: str | None = None
    worker_image: str = "kubetask/worker:latest"
    health_port: int | None = None  # kopf's liveness endpoint (/healthz); None: off
    health_host: str = "0.0.0.0"
    # kopf's watch requests: the API server ends each after server_timeout, and the client
    # gives up on a silent connection after client_timeout (kopf's known hang otherwise).
    server_timeout: int = 300  # whole seconds: the API server parses an integer
    client_timeout: int = 330
    status_linger: float = 0.2  # status patches gather changes this long (coalescing)
    stats_interval: float = 5.0  # TaskQueue status refresh
