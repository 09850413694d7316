"""Dispatch order over the priority levels: strict, or with aging."""

from __future__ import annotations

from kubetask.queue import codec
from kubetask.scheduler.pending_heads import PendingHeads
from kubetask.store import Keyspace, KeyValue
from tests.factories import make_task

KEYS = Keyspace()


def kv(priority: int, created_at: float) -> KeyValue:
    task = make_task(priority=priority, created_at=created_at)
    return KeyValue(KEYS.pending("q", priority, task.id), codec.dump(task), 1, 1, 1, 0)


def filled(aging: float | None, entries: list[KeyValue]) -> PendingHeads:
    heads = PendingHeads(KEYS, aging)
    assert heads.levels_to_read(1) == [3, 2, 1, 0]  # never read: every level
    for priority in (3, 2, 1, 0):
        heads.fill(priority, [e for e in entries if KEYS.priority_of_pending(e.key) == priority],
                   more=False)
    return heads


def test_strict_order_is_priority_then_fifo() -> None:
    old_low, new_urgent, new_low = kv(0, 1.0), kv(3, 1e12), kv(0, 1e12)
    heads = filled(None, [old_low, new_urgent, new_low])
    assert [e.kv.key for e in heads] == [new_urgent.key, old_low.key, new_low.key]
    assert heads.levels_to_read(1) == []  # every level exhaustive


def test_aging_lifts_a_long_waiting_low_task_above_new_urgent_ones() -> None:
    import time
    now = time.time()
    # made oldest first: ids, like created_at, follow submission order
    starving = kv(0, now - 100)
    high = kv(2, now - 15)  # waited 1.5 levels: effective urgent
    urgent, fresh_low = kv(3, now), kv(0, now)
    heads = filled(10.0, [starving, fresh_low, urgent, high])
    order = [e.kv.key for e in heads]
    assert order[0] == starving.key  # effective urgent, oldest
    assert order.index(high.key) < order.index(urgent.key)  # both urgent, high is older
    assert order[-1] == fresh_low.key


def test_discard_and_add_route_to_their_level() -> None:
    heads = filled(None, [])
    item = kv(1, 5.0)
    heads.add(item)
    assert len(heads) == 1
    heads.discard(item.key, item.mod_revision)
    assert len(heads) == 0
