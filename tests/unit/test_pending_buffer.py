"""The leader's cached head of the pending index."""

from __future__ import annotations

from kubetask.queue import codec
from kubetask.scheduler.pending_buffer import PendingBuffer
from kubetask.store import Keyspace, KeyValue
from tests.factories import make_task

KEYS = Keyspace()


def kv(priority: int, revision: int = 1) -> KeyValue:
    task = make_task(priority=priority)
    return KeyValue(KEYS.pending("q", priority, task.id), codec.dump(task), revision,
                    revision, 1, 0)


def test_a_new_buffer_asks_for_a_read() -> None:
    assert PendingBuffer().should_read(1, set())


def test_exhaustive_buffer_takes_every_put_in_dispatch_order() -> None:
    buf = PendingBuffer()
    low, high = kv(0), kv(2)
    buf.fill([low], more=False)
    buf.add(high)
    assert buf.exhaustive and not buf.should_read(5, set())
    assert [p.kv.key for p in buf.head(5, set())] == [high.key, low.key]


def test_partial_buffer_ignores_keys_beyond_what_it_read() -> None:
    buf = PendingBuffer()
    urgent, normal, low = kv(3), kv(1), kv(0)
    buf.fill([urgent, normal], more=True)
    buf.add(low)  # sorts after the last key read: a later read finds it
    assert len(buf) == 2
    buf.add(kv(2))  # sorts before: must be in the buffer
    assert [p.task.priority for p in buf.head(10, set())] == [3, 2, 1]
    assert buf.should_read(4, set())


def test_discard_and_skip() -> None:
    buf = PendingBuffer()
    a, b, c = kv(3), kv(3), kv(3)
    buf.fill([a, b, c], more=False)
    buf.discard(b.key)
    assert [p.kv.key for p in buf.head(10, {a.key})] == [c.key]
    buf.discard("not-there")
    assert len(buf) == 2


def test_discard_keeps_a_newer_version_of_the_key() -> None:
    buf = PendingBuffer()
    old = kv(1, revision=5)
    buf.fill([old], more=False)
    newer = KeyValue(old.key, old.value, 9, 9, 1, 0)
    buf.add(newer)
    buf.discard(old.key, mod_revision=5)
    assert [p.kv.mod_revision for p in buf.head(5, set())] == [9]
