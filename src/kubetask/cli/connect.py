"""The SDK client of the one-shot commands: they fail fast when etcd cannot be reached.

Long-running processes (scheduler, worker, dashboard) stay patient instead: they wait
and retry while etcd restarts or elects a leader.
"""

from __future__ import annotations

from kubetask.cli.options import etcd_credentials
from kubetask.client import AsyncClient

# Time for the first connection to etcd: a TCP and HTTP/2 handshake, even to a distant
# cluster, takes a fraction of it; an unreachable endpoint is reported after it.
CONNECT_TIMEOUT = 1.5


def one_shot_client(etcd_endpoints: str, namespace: str) -> AsyncClient:
    return AsyncClient(etcd_endpoints, namespace=namespace, connect_timeout=CONNECT_TIMEOUT,
                       credentials=etcd_credentials())
