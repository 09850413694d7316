"""Split work into etcd transactions that respect its per-transaction limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
MAX_TXN_BYTES = 1024 * 1024  # below etcd's 1.5 MiB default --max-request-bytes


def chunks(items: Iterable[T], *, ops_per_item: int, size_of: Sequence[int] | None = None,
           extra_ops: int = 0) -> Iterator[list[T]]:
    """Consecutive groups whose op count and byte size fit one transaction."""
    per_txn = max(1, (MAX_TXN_OPS - extra_ops) // ops_per_item)
    group: list[T] = []
    group_bytes = 0
    for index, item in enumerate(items):
        size = size_of[index] if size_of is not None else 0
        if group and (len(group) >= per_txn or group_bytes + size > MAX_TXN_BYTES):
            yield group
            group, group_bytes = [], 0
        group.append(item)
        group_bytes += size
    if group:
        yield group
