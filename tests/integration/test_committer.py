"""The worker's group commit on a real etcd: stopping it flushes what is queued."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from kubetask.model import TaskState
from kubetask.queue import AttemptLog, Claim, Write
from kubetask.store import Keyspace, Store
from kubetask.worker.committer import Committer
from tests.factories import make_task

pytestmark = pytest.mark.etcd


class GatedLog(AttemptLog):
    """Commits on the real etcd, but each transaction waits until the gate opens."""

    def __init__(self, store: Store, keys: Keyspace) -> None:
        super().__init__(store, keys, keys.worker("default", "w0"), lease=1)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def commit(self, writes: Sequence[Write], outcome: dict[str, bool], *,
                     uncertain: bool = False) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().commit(writes, outcome, uncertain=uncertain)


def end_of_unclaimed_task(keys: Keyspace) -> Write:
    task = make_task(state=TaskState.ASSIGNED, attempts=1, worker="w0")
    claim = Claim(task, keys.assignment(task.queue, "w0", 1, task.id), token=1)  # stale: no key
    return Write(claim, task.evolve(state=TaskState.SUCCEEDED), final=True)


async def test_stop_waits_for_the_queued_writes_to_be_taken_without_polling(
        store: Store, keys: Keyspace, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = GatedLog(store, keys)
    committer = Committer(attempts)
    committer.start()
    first = committer.submit(end_of_unclaimed_task(keys))  # nothing else runs: at once
    await asyncio.wait_for(attempts.entered.wait(), 10)
    committer.submit(end_of_unclaimed_task(keys))  # queued behind the one in flight
    # Which asyncio tasks set timers from here on: a stop() that polls sets one per turn.
    loop = asyncio.get_running_loop()
    timers_by: list[asyncio.Task[Any] | None] = []
    call_at = loop.call_at

    def counted_call_at(when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        timers_by.append(asyncio.current_task())
        return call_at(when, callback, *args, context=context)

    monkeypatch.setattr(loop, "call_at", counted_call_at)
    stopping = asyncio.create_task(committer.stop())
    for _ in range(50):
        await asyncio.sleep(0)
    assert not stopping.done()  # the second write is not taken while the first is in flight
    attempts.gate.set()
    await asyncio.wait_for(stopping, 10)
    assert first.done() and first.result() is False  # its transaction ran: a stale claim
    assert stopping not in timers_by
