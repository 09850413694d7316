"""Group commit: attempt writes queue up while one transaction is in flight, then go
together in the next. A start still queued when its attempt ends is dropped: the end
record carries the start time (the worker queues a start only once its attempt has run a
moment, so a fast task costs one write, not two). An end waits a moment (`end_linger`)
while other attempts of the worker are still running, so that ends close together share
one transaction; it goes at once when nothing else runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubetask.errors import StoreError
from kubetask.model import Backoff
from kubetask.queue import AttemptLog, Write
from kubetask.wakeup import cancel_and_wait

log = logging.getLogger(__name__)


class Committer:
    def __init__(self, attempts: AttemptLog, *, end_linger: float = 0.002,
                 others_running: Callable[[], int] = lambda: 0) -> None:
        self._log = attempts
        self.end_linger = end_linger
        self._linger: asyncio.TimerHandle | None = None  # one timer for all lingering ends
        self._others_running = others_running
        self._queued: dict[str, tuple[Write, asyncio.Future[bool]]] = {}
        self._wake = asyncio.Event()
        self._taken = asyncio.Event()  # set each time _run takes the queued writes
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="committer")

    async def stop(self) -> None:
        """Flush what is queued (lingering ends go at once), then stop."""
        if self._task is None:
            return
        while self._queued and not self._task.done():
            self._taken.clear()
            self._wake.set()
            taken = asyncio.ensure_future(self._taken.wait())
            await asyncio.wait({taken, self._task}, return_when=asyncio.FIRST_COMPLETED)
            taken.cancel()
        task, self._task = self._task, None
        error = await cancel_and_wait(task)
        if error is not None:
            raise error

    def submit(self, write: Write) -> asyncio.Future[bool]:
        """Queue a write; the future says True once committed, False if the claim was stale."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        previous = self._queued.get(write.after.id)
        if previous is not None and not previous[0].final:
            previous[1].set_result(True)  # superseded by this write, which includes it
        self._queued[write.after.id] = (write, future)
        if write.final and self.end_linger > 0 and self._others_running():
            # Other attempts still running may end within the linger: one write for all.
            if self._linger is None:
                self._linger = asyncio.get_running_loop().call_later(self.end_linger,
                                                                     self._linger_over)
        else:
            self._wake.set()
        return future

    def _linger_over(self) -> None:
        self._linger = None
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queued:
                continue
            batch, self._queued = self._queued, {}
            self._taken.set()
            writes = [w for w, _ in batch.values()]
            outcome: dict[str, bool] = {}
            backoff: Backoff | None = None  # made on the first failure only
            uncertain = False
            while True:
                try:
                    await self._log.commit([w for w in writes if w.after.id not in outcome],
                                           outcome, uncertain=uncertain)
                    break
                except StoreError as exc:
                    # Unknown outcome or etcd away: the same writes are fenced on their
                    # claims, so trying again can only commit them once.
                    log.warning("committing %d attempt writes failed (%s); retrying",
                                len(writes) - len(outcome), exc)
                    uncertain = True
                    backoff = backoff or Backoff(first=0.05, cap=2.0)
                    await asyncio.sleep(backoff.next())
            self.batches += 1
            for task_id, (_, future) in batch.items():
                if not future.done():
                    future.set_result(outcome.get(task_id, False))
