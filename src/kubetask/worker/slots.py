"""The worker's slots: at most `count` attempts run at once; claims waiting for a slot
(prefetched) get one by priority, urgent first, FIFO within a priority."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class Slots:
    """`count` slots. A claim asks with a ticket (a future: True, a slot is its own; False,
    refused because the worker drains); once draining, no slot not yet given is given."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.held = 0
        self._draining = False
        # (-priority, arrival, ticket): the highest priority first, FIFO within it. A
        # withdrawn ticket (cancelled) stays until it reaches the top, then it is skipped.
        self._waiting: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._arrival = itertools.count()

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def free(self) -> int:
        return self.count - self.held

    def waiting(self) -> int:
        """Tickets waiting for a slot (withdrawn ones not counted)."""
        return sum(1 for _, _, ticket in self._waiting if not ticket.done())

    def ticket(self, priority: int) -> asyncio.Future[bool]:
        """Ask for a slot: given at once when one is free, else when one frees up and no
        ticket of a higher priority, or of the same one and older, waits."""
        ticket: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._draining:
            ticket.set_result(False)
        elif self.held < self.count:
            self.held += 1
            ticket.set_result(True)
        else:
            heapq.heappush(self._waiting, (-priority, next(self._arrival), ticket))
        return ticket

    async def take(self, ticket: asyncio.Future[bool], timeout: float | None) -> bool | None:
        """Wait for the ticket up to `timeout` seconds: True, a slot is held (release() it);
        False, refused (draining); None, not given in time, or withdrawn meanwhile."""
        try:
            if not ticket.done():
                await asyncio.wait((ticket,), timeout=timeout)
        except BaseException:
            self.withdraw(ticket)
            raise
        if not ticket.done():
            ticket.cancel()
            return None
        return None if ticket.cancelled() else ticket.result()

    def withdraw(self, ticket: asyncio.Future[bool]) -> None:
        """The ticket is not wanted any more: a slot it was given is released."""
        if not ticket.done():
            ticket.cancel()
        elif not ticket.cancelled() and ticket.result():
            self.release()

    def release(self) -> None:
        self.held -= 1
        while self._waiting and self.held < self.count:
            _, _, ticket = heapq.heappop(self._waiting)
            if not ticket.done():
                self.held += 1
                ticket.set_result(True)

    def drain(self) -> None:
        """Give no more slots: every waiting ticket is refused now."""
        self._draining = True
        waiting, self._waiting = self._waiting, []
        for _, _, ticket in waiting:
            if not ticket.done():
                ticket.set_result(False)

    def undrain(self) -> None:
        self._draining = False
