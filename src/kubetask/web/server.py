"""The dashboard server: the page, the JSON API, live events and /metrics on one port.

    async with Dashboard(DashboardSettings(etcd_endpoints="127.0.0.1:2379", port=8080)) as d:
        print(d.url)
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from kubetask.client import AsyncClient
from kubetask.metrics import ApiMetrics, QueueCollector, new_registry
from kubetask.service import Lifecycle
from kubetask.web import middleware
from kubetask.web.api import routes
from kubetask.web.context import API_METRICS, CLIENT, HUB, QUEUE_COLLECTOR, REGISTRY, SETTINGS
from kubetask.web.events import EventHub
from kubetask.web.settings import DashboardSettings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SHUTDOWN_SECONDS = 3.0  # requests still open at shutdown get this long


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(client: AsyncClient, settings: DashboardSettings) -> web.Application:
    """The application for a connected `client`; the hub starts and stops with it."""
    app = web.Application(
        middlewares=[middleware.count_requests, middleware.errors, middleware.write_guard],
        client_max_size=settings.max_body_bytes)
    registry = new_registry()
    collector = QueueCollector()
    registry.register(collector)
    hub = EventHub(client, settings.stats_interval)
    app[SETTINGS] = settings
    app[CLIENT] = client
    app[HUB] = hub
    app[REGISTRY] = registry
    app[API_METRICS] = ApiMetrics(registry)
    app[QUEUE_COLLECTOR] = collector
    app.router.add_routes(routes)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.on_response_prepare.append(middleware.security_headers)

    async def start_hub(app: web.Application) -> None:
        await hub.start()

    async def end_streams(app: web.Application) -> None:
        hub.close_listeners()  # SSE handlers return; shutdown need not wait for them

    async def stop_hub(app: web.Application) -> None:
        await hub.stop()

    app.on_startup.append(start_hub)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(stop_hub)
    return app


class Dashboard(Lifecycle):
    """The server's lifecycle: connect to etcd, listen, serve; stop closes everything."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self.client = AsyncClient(settings.etcd_endpoints, namespace=settings.namespace,
                                  credentials=settings.etcd_credentials)
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        await self.client.connect()
        try:
            app = create_app(self.client, self.settings)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = self._bound_port()
        log.info("dashboard listening on %s (namespace %s, writes %s)", self.url,
                 self.settings.namespace, self.settings.writes)

    def _bound_port(self) -> int:
        assert self._runner is not None
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        return self.settings.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.client.close()

    async def wait(self) -> None:
        """Never returns: aiohttp serves each request in a task of its own, and the server
        has no failure of its own to report."""
        await asyncio.get_running_loop().create_future()
