"""A bug inside a scheduler's term: logged with its traceback, restarted, and given up when
it repeats (never looped on silently)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from kubetask.client import AsyncClient
from kubetask.errors import ServiceFailed
from kubetask.scheduler import Scheduler, SchedulerSettings
from kubetask.scheduler.strategies.base import Candidate
from kubetask.store import Keyspace, Store
from tests.harness import InProcessSystem

pytestmark = pytest.mark.etcd


class BrokenStrategy:
    name = "broken"

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        raise RuntimeError("strategy bug: picked nobody")


async def test_a_bug_in_a_term_is_logged_with_its_traceback_and_ends_the_scheduler(
        system: InProcessSystem, client: AsyncClient, store: Store, keys: Keyspace,
        caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler(store, keys, SchedulerSettings(node_id="s-broken"))
    scheduler.strategy = BrokenStrategy()
    await system.worker()
    await client.submit("echo")  # the first dispatch round calls the strategy
    await scheduler.start()
    try:
        with pytest.raises(ServiceFailed, match="scheduler s-broken failed 3 times"):
            await asyncio.wait_for(scheduler.wait(), 20)
    finally:
        await scheduler.stop()
    bugs = [r for r in caplog.records
            if r.levelno == logging.ERROR and r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(bugs) == 3, caplog.text
    assert "Traceback" in caplog.text and "strategy bug: picked nobody" in caplog.text
    assert scheduler.terms == 3 and not scheduler.leading.is_set()


async def test_a_standby_names_the_scheduler_that_leads(
        system: InProcessSystem, client: AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    """Three schedulers: each standby says which node leads the queue (not a lease id, and
    not the candidate it happens to wait behind)."""
    caplog.set_level(logging.INFO, logger="kubetask.store.election")
    first = await system.scheduler(node_id="s-first")
    await asyncio.wait_for(first.leading.wait(), 10)
    await system.scheduler(node_id="s-second")
    await system.scheduler(node_id="s-third")

    async def both_stand_by() -> list[str]:
        while True:
            lines = [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()]
            if len(lines) >= 2:
                return lines
            await asyncio.sleep(0.05)
    lines = await asyncio.wait_for(both_stand_by(), 10)
    assert lines == ["standing by: s-first leads queue default"] * 2
