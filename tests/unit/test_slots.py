"""The worker's slots: waiting claims get a slot by priority (urgent first), FIFO within a
priority; draining refuses them all; a withdrawn ticket is skipped."""

from __future__ import annotations

import asyncio

from kubetask.worker.prefetch import PrefetchAdvert
from kubetask.worker.slots import Slots


def given(*tickets: asyncio.Future[bool]) -> list[bool | None]:
    return [t.result() if t.done() and not t.cancelled() else None for t in tickets]


async def test_a_freed_slot_goes_to_the_most_urgent_waiting_claim_then_the_oldest() -> None:
    slots = Slots(1)
    first = slots.ticket(0)
    low_a, low_b, urgent, high = slots.ticket(0), slots.ticket(0), slots.ticket(3), slots.ticket(2)
    assert given(first, low_a, low_b, urgent, high) == [True, None, None, None, None]
    assert slots.waiting() == 4
    order = []
    for _ in range(4):
        slots.release()
        order.append(given(low_a, low_b, urgent, high))
    assert order == [[None, None, True, None], [None, None, True, True],
                     [True, None, True, True], [True, True, True, True]]
    assert slots.held == 1 and slots.waiting() == 0


async def test_draining_refuses_every_waiting_claim_and_every_new_one() -> None:
    slots = Slots(2)
    running = [slots.ticket(1), slots.ticket(1)]
    waiting = [slots.ticket(3), slots.ticket(0)]
    slots.drain()
    assert given(*running, *waiting, slots.ticket(3)) == [True, True, False, False, False]
    slots.release()
    assert slots.held == 1  # nothing waits any more
    slots.undrain()
    assert given(slots.ticket(0)) == [True]


async def test_a_claim_waiting_past_its_hold_is_not_given_a_slot_later() -> None:
    slots = Slots(1)
    slots.ticket(1)
    late = slots.ticket(1)
    assert await slots.take(late, 0.01) is None
    assert late.cancelled() and slots.waiting() == 0
    after = slots.ticket(0)
    slots.release()
    assert given(after) == [True] and slots.held == 1


async def test_a_withdrawn_slot_goes_to_the_next_waiting_claim() -> None:
    slots = Slots(1)
    first, second = slots.ticket(0), slots.ticket(0)
    slots.withdraw(first)  # given, then not wanted: released
    assert given(second) == [True] and slots.held == 1
    assert await slots.take(second, 0.01) is True


def test_prefetch_is_earned_by_short_runs() -> None:
    changes: list[int] = []
    advert = PrefetchAdvert(4, 0.1, lambda: changes.append(advert.advertised))
    assert advert.advertised == 0  # no run time known yet: no task is parked here
    advert.ended(0.3, free_slot=True)  # the first run time is taken as it is (no bias to 0)
    assert advert.advertised == 0 and changes == []
    for _ in range(10):
        advert.ended(0.001, free_slot=True)
    # On once the average is under the hold (0.073 s): 1 task (1 slot drains 1 within half
    # the hold); then 2, then the whole --prefetch as the average falls.
    assert advert.advertised == 4 and changes == [1, 2, 4]
    assert PrefetchAdvert(0, 0.1, lambda: None).advertised == 0


def test_prefetch_holds_what_the_slots_drain_within_half_the_hold_and_does_not_flap() -> None:
    changes: list[int] = []
    advert = PrefetchAdvert(64, 0.1, lambda: changes.append(advert.advertised), slots=8)
    advert.ended(0.001, free_slot=True)
    assert changes == [64]  # 8 slots drain 400 no-ops within 0.05 s: --prefetch bounds it
    for _ in range(20):
        advert.ended(0.03, free_slot=True)
    # 30 ms runs: 8 slots drain 13 tasks within 0.05 s; a power of two below it. It shrinks
    # at once as the average grows, one change per halving.
    assert advert.fits() == 13 and changes == [64, 32, 16, 8]
    for _ in range(50):  # run times varying by less than twice around 30 ms: no change
        advert.ended(0.02, free_slot=True)
        advert.ended(0.04, free_slot=True)
    assert changes == [64, 32, 16, 8]
    for _ in range(20):
        advert.ended(0.001, free_slot=True)
    assert changes == [64, 32, 16, 8, 16, 32, 64]  # one change per doubling of what fits


def test_prefetch_pauses_after_a_long_wait_and_resumes_with_short_runs_and_a_free_slot() -> None:
    changes: list[int] = []
    advert = PrefetchAdvert(4, 0.1, lambda: changes.append(advert.advertised))
    advert.ended(0.001, free_slot=True)  # earned
    advert.ended(5.0, free_slot=True)  # a long task ends: nothing waited, not paused
    assert advert.advertised == 1 and changes == [4, 1]  # but 1 task fits in the hold now
    changes.clear()
    advert.held_too_long()
    advert.held_too_long()  # once
    assert advert.advertised == 0 and changes == [0]
    for _ in range(30):
        advert.ended(0.001, free_slot=False)  # short, but no free slot yet
    assert advert.advertised == 0
    advert.ended(0.001, free_slot=True)
    assert advert.advertised == 4 and changes == [0, 4]
