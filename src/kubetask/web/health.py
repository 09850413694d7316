"""Liveness and readiness over HTTP for a long-running process, served from its own asyncio
loop: GET /livez answers while the loop does (a stuck loop fails it), GET /readyz answers
200 when the component says it is ready, else 503 with the reason."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)

# Why the component cannot serve now, or None when it can.
Readiness = Callable[[], str | None]


class HealthEndpoint:
    """/livez and /readyz on `host:port` (port 0: any free port), in the running loop."""

    def __init__(self, readiness: Readiness, host: str, port: int) -> None:
        self._readiness = readiness
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)

    async def start(self) -> None:
        """Bind and serve (OSError when the address is taken)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        self.port = int(self._runner.addresses[0][1])
        log.info("health endpoint at http://%s:%d (/livez, /readyz)", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _livez(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        why = self._readiness()
        if why is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {why}\n")
