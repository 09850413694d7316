"""A registry per process, served on its own port or encoded for a scrape of the web server."""

from __future__ import annotations

from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)
from prometheus_client.exposition import choose_encoder

__all__ = ["DURATION_BUCKETS", "CollectorRegistry", "MetricsEndpoint", "encode",
           "new_registry", "serve_metrics"]

# Waits and runs span milliseconds (echo) to hours (batch jobs).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0, 900.0, 3600.0, float("inf"))


def new_registry(*, process: bool = True) -> CollectorRegistry:
    """A registry of its own, with the process, platform and GC figures when `process`."""
    registry = CollectorRegistry(auto_describe=True)
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry


def encode(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """(body, content type) of a scrape: Prometheus text 0.0.4 unless the scraper's
    `accept` header asks for OpenMetrics."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class MetricsEndpoint:
    """A registry served over HTTP on its own thread (schedulers' and workers' /metrics)."""

    def __init__(self, server: WSGIServer, thread: Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> MetricsEndpoint:
    """Serve `registry` at http://host:port/metrics (port 0: any free port)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server, thread)
