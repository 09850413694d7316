"""cancel_and_wait: a child that takes a moment to end after its cancel must not swallow a
cancel of its caller (a standby scheduler stopped just as it won the election led on, and
its stop() waited forever: a 60 s teardown timeout in the integration suite)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from kubetask.scheduler.scheduler import _until_lost
from kubetask.wakeup import cancel_and_wait

WIND_DOWN = 0.2  # how long a stubborn child takes to end once cancelled


async def stubborn() -> None:
    """Ends WIND_DOWN s after its cancel (cleanup that awaits, as a lease revoke does)."""
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await asyncio.sleep(WIND_DOWN)
        raise


async def test_a_cancel_of_the_caller_while_its_child_winds_down_is_raised() -> None:
    went_on = False

    async def caller() -> None:
        nonlocal went_on
        child = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)  # the child runs up to its sleep
        await cancel_and_wait(child)
        went_on = True

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(WIND_DOWN / 4)
    task.cancel()
    await asyncio.wait({task})
    assert task.cancelled() and not went_on


async def test_the_childs_own_error_is_returned_and_a_cancelled_child_is_none() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    child = asyncio.ensure_future(failing())
    await asyncio.sleep(0)
    error = await cancel_and_wait(child)
    assert isinstance(error, RuntimeError) and str(error) == "cleanup failed"
    assert await cancel_and_wait(asyncio.ensure_future(asyncio.sleep(60))) is None
    assert await cancel_and_wait() is None


async def test_a_scheduler_stopped_as_its_campaign_ends_stops() -> None:
    """The campaign (the work) ends; while `_until_lost` waits for the lost-watcher to end,
    the scheduler is stopped: the stop must win, not the campaign's result."""
    lease = SimpleNamespace(lost=SimpleNamespace(wait=stubborn))

    async def campaign() -> None:
        return None

    task = asyncio.ensure_future(_until_lost(campaign(), lease))  # type: ignore[arg-type]
    await asyncio.sleep(WIND_DOWN / 4)  # the campaign ended; the watcher winds down
    assert not task.done()
    task.cancel()
    await asyncio.wait({task})
    assert task.cancelled()  # the old cleanup returned True here: it went on to lead
    with pytest.raises(asyncio.CancelledError):
        task.result()
