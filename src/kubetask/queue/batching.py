"""Split work into etcd transactions that respect its per-transaction limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from kubetask.store import MAX_TXN_BYTES, MAX_TXN_OPS

T = TypeVar("T")


def chunks(items: Iterable[T], *, ops_per_item: int | Sequence[int],
           size_of: Sequence[int] | None = None, extra_ops: int = 0) -> Iterator[list[T]]:
    """Consecutive groups whose op count and byte size fit one transaction.

    `ops_per_item`: the operations (and at most as many compares) each item adds, one
    number for all or one per item; `extra_ops` are added once per transaction."""
    budget = MAX_TXN_OPS - extra_ops
    group: list[T] = []
    group_ops = group_bytes = 0
    for index, item in enumerate(items):
        ops = ops_per_item if isinstance(ops_per_item, int) else ops_per_item[index]
        size = size_of[index] if size_of is not None else 0
        if group and (group_ops + ops > budget or group_bytes + size > MAX_TXN_BYTES):
            yield group
            group, group_ops, group_bytes = [], 0, 0
        group.append(item)
        group_ops += ops
        group_bytes += size
    if group:
        yield group
