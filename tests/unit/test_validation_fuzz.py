"""Property tests (Hypothesis) of the input rules: 10,000 generated inputs per rule, pure
functions only. Every input is either accepted as a value the rule allows, or refused with a
ValidationError (never another exception)."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetask.client import TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import Priority
from kubetask.model.validation import (
    MAX_BACKOFF_SECONDS,
    MAX_NAME_LENGTH,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    parse_payload,
    validate_backoff,
    validate_delay,
    validate_max_retries,
    validate_name,
    validate_payload,
    validate_timeout,
)
from kubetask.web.parsing import task_spec

FUZZ = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@+=-")

# Names near the rule's edges: its own alphabet, key separators, NUL, line breaks, lookalikes.
name_text = st.text(alphabet=st.sampled_from(
    [*"aZ09._:@+=-", "/", "\x00", "\n", "\r", " ", "\u2215", "\uff0e", "\u0430", "é"]),
    max_size=MAX_NAME_LENGTH + 8)
any_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                       st.text(max_size=20), st.binary(max_size=8))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
              st.text(max_size=10)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=4)


@FUZZ
@given(st.one_of(name_text, st.text(max_size=200), any_scalar))
def test_a_name_is_safe_or_refused(value: Any) -> None:
    try:
        name = validate_name("queue", value)
    except ValidationError:
        return
    assert isinstance(name, str) and 1 <= len(name) <= MAX_NAME_LENGTH
    assert set(name) <= NAME_CHARS and ".." not in name and name[0].isalnum()


@FUZZ
@given(json_value)
def test_a_payload_is_json_that_reads_back_or_refused(value: Any) -> None:
    try:
        validate_payload(value)
    except ValidationError:
        return
    stack = [value]
    while stack:  # nothing accepted that JSON would silently change (NaN/Infinity -> null)
        item = stack.pop()
        assert not (isinstance(item, float) and not math.isfinite(item))
        stack.extend(item.values() if isinstance(item, dict) else
                     item if isinstance(item, list) else [])


@FUZZ
@given(st.text(max_size=300))
def test_a_payload_argument_parses_or_is_refused(text: str) -> None:
    with contextlib.suppress(ValidationError):
        parse_payload(text)


@FUZZ
@given(any_scalar)
def test_numbers_are_in_their_bounds_or_refused(value: Any) -> None:
    for check, low, high in [(validate_timeout, 0.0, MAX_TIMEOUT_SECONDS),
                             (validate_delay, 0.0, 366 * 86400.0),
                             (lambda v: validate_backoff("retry_base", v), 0.0,
                              MAX_BACKOFF_SECONDS),
                             (validate_max_retries, 0, MAX_RETRIES)]:
        try:
            got = check(value)
        except ValidationError:
            continue
        assert got is None or (low <= got <= high and not isinstance(got, bool))


@FUZZ
@given(any_scalar)
def test_a_priority_is_a_level_or_refused(value: Any) -> None:
    """(It found "²": str.isdigit() is true for it, int() is not, and the ValueError was a
    500 from the HTTP API.)"""
    with contextlib.suppress(ValidationError):
        assert Priority.parse(value) in tuple(Priority)


spec_fields = st.fixed_dictionaries({}, optional={
    "type": st.one_of(name_text, any_scalar), "queue": st.one_of(name_text, any_scalar),
    "name": st.one_of(name_text, any_scalar), "key": st.one_of(name_text, any_scalar),
    "priority": any_scalar, "max_retries": any_scalar, "timeout": any_scalar,
    "delay": any_scalar, "payload": json_value, "unknown": any_scalar})


@FUZZ
@given(spec_fields)
def test_a_task_builds_or_is_refused_alike_by_http_and_sdk(data: dict[str, Any]) -> None:
    """The HTTP API's parser (over the SDK's checks) and the SDK: a Task, or a
    ValidationError with the same message."""
    try:
        task_spec(data).build(now=1_000.0)
        http = ""
    except ValidationError as exc:
        http = str(exc)
    if "unknown" in data or "type" not in data:
        assert http  # a field the API does not have, or no type: refused
        return
    sdk = {k: v for k, v in data.items()  # the API reads null as absent for these
           if not (k in ("queue", "priority", "max_retries") and v is None)}
    try:
        task = TaskSpec(**sdk).build(now=1_000.0)
    except ValidationError as exc:
        if not isinstance(data.get("name"), str | None) or not isinstance(
                data.get("key"), str | None):
            return  # the HTTP API names the wrong JSON type first
        assert str(exc) == http
        return
    assert not http and isinstance(task.type, str) and isinstance(task.queue, str)
