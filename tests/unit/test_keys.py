"""Key layout: priority order, FIFO within a priority, prefixes that do not overlap."""

from __future__ import annotations

from kubetask.model import new_task_id
from kubetask.store import Keyspace, prefix_end


def test_pending_keys_sort_urgent_first_then_fifo() -> None:
    keys = Keyspace(namespace="ns")
    ids = [new_task_id() for _ in range(8)]
    entries = [(p, i) for i in ids for p in (0, 1, 2, 3)]
    ordered = sorted(entries, key=lambda e: keys.pending("q", e[0], e[1]))
    assert [p for p, _ in ordered] == [3] * 8 + [2] * 8 + [1] * 8 + [0] * 8
    assert [i for p, i in ordered if p == 3] == ids


def test_namespaces_and_queues_do_not_share_prefixes() -> None:
    a, b = Keyspace(namespace="a"), Keyspace(namespace="ab")
    assert not b.task("x").startswith(a.tasks())
    assert not a.pending("q1", 1, "x").startswith(a.queue("q"))


def test_delayed_keys_sort_by_due_time() -> None:
    keys = Keyspace()
    assert keys.delayed("q", 5.0, "b") < keys.delayed("q", 10.0, "a")
    assert keys.due_of(keys.delayed("q", 12.345, "a")) == 12.345


def test_prefix_end_is_the_next_key_after_the_prefix() -> None:
    assert prefix_end("/a/") == "/a0"
    assert prefix_end("/a/") > "/a/zzz" and prefix_end("/a/") <= "/a0"
