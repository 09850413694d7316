"""Waiting on an asyncio event with a timeout, without losing a cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives just as the
awaited event fires, leaving a loop that was told to stop running forever (seen as a
scheduler that ignored SIGTERM). `asyncio.timeout` does not have that race.
"""

from __future__ import annotations

import asyncio


async def wait_until_set(event: asyncio.Event, timeout: float | None) -> bool:
    """True if `event` was set within `timeout` seconds (None: no limit)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
