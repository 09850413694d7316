"""Waiting without losing a cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives just as the
awaited event fires, leaving a loop that was told to stop running forever (seen as a
scheduler that ignored SIGTERM). `asyncio.timeout` does not have that race.

Likewise `task.cancel()` then `await task` under `suppress(CancelledError)` swallows a
cancellation of the *caller* that arrives while it waits for the child to end: a standby
scheduler cancelled just as it won the election went on to lead, and its stop() waited
forever. `cancel_and_wait` does not.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_until_set(event: asyncio.Event, timeout: float | None) -> bool:
    """True if `event` was set within `timeout` seconds (None: no limit)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> BaseException | None:
    """Cancel `tasks` and wait until they have ended. Returns the first error one of them
    ended with (other than its cancellation; retrieved, so it is not logged as "never
    retrieved"), for the caller to raise or drop. A cancellation of the caller meanwhile is
    raised, never swallowed."""
    pending = {t for t in tasks if not t.done()}
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending)
    errors = [t.exception() for t in tasks if not t.cancelled()]
    return next((e for e in errors if e is not None), None)
