"""Run a long-lived asyncio component until SIGTERM or Ctrl-C, then stop it gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


async def serve(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
                wait: Callable[[], Awaitable[None]] | None = None) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await start()
    waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(stopping.wait())}
    if wait is not None:
        waiters.add(asyncio.ensure_future(wait()))
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for future in done:
            future.result()
    finally:
        for future in waiters:
            future.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await stop()
