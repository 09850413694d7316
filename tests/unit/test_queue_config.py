"""A queue's defaults: validation, merging, and precedence over the worker's policy."""

from __future__ import annotations

import pytest

from kubetask.errors import ValidationError
from kubetask.model import QueueConfig, RetryPolicy


def test_unset_fields_fall_back_to_the_workers_policy() -> None:
    worker = RetryPolicy(max_retries=3, base_seconds=1.0, cap_seconds=60.0)
    assert QueueConfig().applied_to(worker) == worker
    assert QueueConfig(max_retries=0, retry_cap_seconds=5).applied_to(worker) == RetryPolicy(
        max_retries=0, base_seconds=1.0, cap_seconds=5.0)


def test_merge_sets_only_what_is_given() -> None:
    config = QueueConfig(max_retries=2).merge(retry_base_seconds=3, max_retries=None)
    assert config == QueueConfig(max_retries=2, retry_base_seconds=3.0)
    assert config.to_dict() == {"max_retries": 2, "retry_base_seconds": 3.0}
    assert QueueConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("fields,fragment", [
    ({"max_retries": -1}, "max retries"),
    ({"max_retries": True}, "max retries"),
    ({"retry_base_seconds": -0.5}, "retry_base_seconds"),
    ({"retry_cap_seconds": float("inf")}, "retry_cap_seconds"),
    ({"retry_base_seconds": "1"}, "retry_base_seconds"),
    ({"retry_base_seconds": 10, "retry_cap_seconds": 1}, "must not be shorter"),
])
def test_bad_values_are_refused(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        QueueConfig(**fields)  # type: ignore[arg-type]


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown queue setting"):
        QueueConfig().merge(retries=3)
