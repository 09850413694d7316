"""Task ids as users type them: a full id or a prefix, checked before any read."""

from __future__ import annotations

import pytest

from kubetask.errors import ValidationError
from kubetask.model import MIN_TASK_ID_PREFIX, TASK_ID_LENGTH, new_task_id, parse_task_id

FULL = "0189f2c3a4b5c6d7e8f90a1b"


@pytest.mark.parametrize("value", [FULL, FULL[:MIN_TASK_ID_PREFIX], FULL[:12]])
def test_a_full_id_or_a_long_enough_prefix_is_taken(value: str) -> None:
    assert parse_task_id(value) == value


def test_an_upper_case_id_is_taken_as_lower_case() -> None:
    assert parse_task_id(FULL.upper()) == FULL


def test_every_new_id_is_a_valid_id() -> None:
    task_id = new_task_id()
    assert len(task_id) == TASK_ID_LENGTH and parse_task_id(task_id) == task_id


@pytest.mark.parametrize("value,fragment", [
    (FULL[:MIN_TASK_ID_PREFIX - 1], f"too short: give at least {MIN_TASK_ID_PREFIX}"),
    ("0189", "too short"),
    ("0189f2zz", "not hexadecimal"),
    ("nope-nope", "not hexadecimal"),
    (FULL + "0", "task ids are 24"),
    ("0189/f2c3", "'/'"),
    ("-0189f2", "start with a letter or digit"),
    ("", "non-empty"),
])
def test_a_malformed_or_too_short_id_is_refused_with_what_to_fix(value: str,
                                                                 fragment: str) -> None:
    with pytest.raises(ValidationError, match="task id") as caught:
        parse_task_id(value)
    assert fragment in str(caught.value)
