"""Run a long-lived service until SIGTERM or Ctrl-C (or its own failure), then stop it
gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from kubetask.service import Service


async def serve(service: Service, *, started: Callable[[], None] | None = None) -> None:
    """Start `service` (then call `started`), run it until a signal or until its wait()
    ends (its failure is raised, after stop), then stop it."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await service.start()
        if started is not None:
            started()
        waiters = {asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(service.wait())}
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                future.result()
        finally:
            for future in waiters:
                future.cancel()
            await service.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
