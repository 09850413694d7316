"""etcd's per-transaction limit: oversized transactions are refused before they are sent,
read batches are split within it, and a failing housekeeping step warns once per cause."""

from __future__ import annotations

import logging

import pytest

from kubetask.errors import KubetaskError, StoreError, TransactionTooLarge
from kubetask.scheduler.janitor import Step
from kubetask.store import MAX_TXN_BYTES, MAX_TXN_OPS, chunks
from kubetask.store.limits import batches, check_txn


def test_the_limit_is_etcds_default() -> None:
    assert MAX_TXN_OPS == 128


@pytest.mark.parametrize("counts", [(0, 0, 0), (128, 128, 128), (1, 128, 0), (128, 0, 1)])
def test_transactions_within_the_limit_pass(counts: tuple[int, int, int]) -> None:
    check_txn(*counts)


@pytest.mark.parametrize("counts", [(129, 0, 0), (0, 129, 0), (0, 0, 129), (0, 200, 0)])
def test_each_list_over_the_limit_is_refused(counts: tuple[int, int, int]) -> None:
    with pytest.raises(TransactionTooLarge) as refused:
        check_txn(*counts)
    message = str(refused.value)
    assert str(max(counts)) in message and "limit of 128" in message and "not sent" in message
    assert isinstance(refused.value, KubetaskError)


def test_batches_keep_order_and_stay_within_the_limit() -> None:
    items = list(range(1000))
    split = batches(items)
    assert [len(b) for b in split] == [128] * 7 + [104]
    assert [i for b in split for i in b] == items
    assert batches([]) == []
    assert batches(items[:5], size=2) == [[0, 1], [2, 3], [4]]


def test_batches_refuse_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], size=0)


def test_chunks_fill_each_transaction_up_to_the_operation_budget() -> None:
    groups = list(chunks(range(100), ops_per_item=3, extra_ops=2))
    assert [len(g) for g in groups] == [42, 42, 16]  # 42 * 3 + 2 = 128
    assert [i for g in groups for i in g] == list(range(100))
    assert list(chunks([], ops_per_item=1)) == []


def test_chunks_count_each_items_own_operations() -> None:
    ops = [100, 28, 1, 127, 128]
    assert list(chunks("abcde", ops_per_item=ops)) == [["a", "b"], ["c", "d"], ["e"]]


def test_chunks_split_by_bytes_before_operations() -> None:
    half = MAX_TXN_BYTES // 2
    groups = list(chunks(range(5), ops_per_item=1, size_of=[half, half, 1, half, half]))
    assert groups == [[0, 1], [2, 3], [4]]


def test_an_item_too_large_alone_still_gets_its_own_group() -> None:
    """Store.txn then refuses it with TransactionTooLarge (never silently dropped)."""
    assert list(chunks("xy", ops_per_item=[200, 1])) == [["x"], ["y"]]


async def test_a_failing_step_warns_once_per_cause_and_logs_its_recovery(
        caplog: pytest.LogCaptureFixture) -> None:
    step = Step("q", "expiry")
    outcomes: list[str | None] = ["too many", "too many", "too many", "other", None]

    async def attempt() -> None:
        cause = outcomes.pop(0)
        if cause is not None:
            raise StoreError(cause)

    with caplog.at_level(logging.DEBUG, logger="kubetask.scheduler.janitor"):
        results = [await step.run(attempt) for _ in range(5)]
    assert results == [False, False, False, False, True]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "too many" in warnings[0] and "other" in warnings[1]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["janitor of q: expiry works again after 4 failed passes"]
    assert step.trouble.cause is None and step.trouble.failures == 0
