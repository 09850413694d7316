"""etcd's per-transaction limits, and the pure checks that keep every request within them.

etcd refuses a transaction with more than `--max-txn-ops` (128 by default) compares,
success operations or failure operations; each list is counted on its own. `Store.txn`
checks every transaction here before it is sent, so an oversized one fails at once with
`TransactionTooLarge`, naming what to split, instead of as etcd's terse refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from kubetask.errors import TransactionTooLarge

T = TypeVar("T")

MAX_TXN_OPS = 128  # etcd's default --max-txn-ops, for each of compares, success and failure
MAX_TXN_BYTES = 1024 * 1024  # below etcd's 1.5 MiB default --max-request-bytes


def check_txn(compares: int, success: int, failure: int) -> None:
    """Refuse a transaction etcd would refuse: more than MAX_TXN_OPS in any one list."""
    if max(compares, success, failure) <= MAX_TXN_OPS:
        return
    raise TransactionTooLarge(
        f"a transaction of {compares} compares, {success} success and {failure} failure "
        f"operations exceeds etcd's limit of {MAX_TXN_OPS} per list; it was not sent. "
        f"Split the work into transactions of at most {MAX_TXN_OPS} (reads: Store.read_many)")


def batches(items: Sequence[T], size: int = MAX_TXN_OPS) -> list[Sequence[T]]:
    """`items` in order, in consecutive slices of at most `size` (one transaction each)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [items[start:start + size] for start in range(0, len(items), size)]


def chunks(items: Iterable[T], *, ops_per_item: int | Sequence[int],
           size_of: Sequence[int] | None = None, extra_ops: int = 0) -> Iterator[list[T]]:
    """Consecutive groups whose operation count and byte size fit one transaction.

    `ops_per_item`: the operations (and at most as many compares) each item adds, one
    number for all or one per item; `size_of`: each item's bytes; `extra_ops` are added once
    per transaction. An item too large for a transaction of its own still gets one (Store.txn
    then refuses it with TransactionTooLarge, naming the counts)."""
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
