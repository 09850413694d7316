"""ListWatch and Watch refuse what cannot work, before any call to etcd (a Store that is
never started)."""

from __future__ import annotations

import pytest

from kubetask.store import ListWatch, Store, Watch

STORE = Store(["127.0.0.1:1"])  # never started: nothing here talks to etcd


def test_a_watch_of_neither_puts_nor_deletes_is_refused() -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        ListWatch(STORE, "/p/", puts_only=True, deletes_only=True)


def test_a_bare_watch_needs_a_start_revision_but_one_that_relists_may_list_first() -> None:
    with pytest.raises(ValueError, match="list first"):
        Watch(STORE, "/p/", start_revision=0)

    async def relist() -> int:
        return 1
    assert Watch(STORE, "/p/", start_revision=0, relist=relist).next_revision == 0


def test_a_list_watch_after_a_known_revision_starts_right_after_it() -> None:
    follow = ListWatch(STORE, "/p/", after_revision=41)
    assert (follow.next_revision, follow.relists) == (42, 0)
    with pytest.raises(ValueError, match="after_revision"):
        ListWatch(STORE, "/p/", after_revision=-1)
