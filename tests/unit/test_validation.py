"""Input checks that run before anything is written."""

from __future__ import annotations

import pytest

from kubetask.client import TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import MAX_PAYLOAD_BYTES, validate_name
from kubetask.model.validation import (
    MAX_DELAY_SECONDS,
    parse_payload,
    validate_delay,
    validate_prefetch,
    validate_prefetch_hold,
    validate_timeout,
)


@pytest.mark.parametrize("name", ["default", "my-queue", "a.b_c:d@e+f=g", "Q1", "x" * 128])
def test_valid_names_pass(name: str) -> None:
    assert validate_name("queue", name) == name


@pytest.mark.parametrize("name,fragment", [
    ("a/b", "'/'"), ("a\x00b", "NUL"), ("a..b", "'..'"), ("", "non-empty"),
    ("x" * 129, "limit is 128"), ("-lead", "start with"), ("sp ace", "characters outside"),
    ("abc\n", "characters outside"), ("abc\r\n", "characters outside"),
    ("\uff41bc", "characters outside"),  # a fullwidth 'a': a confusable of "abc"
])
def test_key_breaking_names_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        validate_name("queue", name)


def test_payload_must_be_json() -> None:
    assert parse_payload('{"n": 1}') == {"n": 1}
    with pytest.raises(ValidationError, match="not valid JSON"):
        parse_payload("{bad")


def test_payload_over_the_cap_is_refused() -> None:
    with pytest.raises(ValidationError, match=f"limit is {MAX_PAYLOAD_BYTES}"):
        TaskSpec("echo", {"blob": "x" * MAX_PAYLOAD_BYTES}).build()


def test_non_finite_numbers_are_refused_not_rewritten() -> None:
    with pytest.raises(ValidationError, match="JSON cannot represent"):
        TaskSpec("echo", {"x": [float("nan")]}).build()


def test_non_json_payload_is_refused() -> None:
    with pytest.raises(ValidationError, match="not JSON-serializable"):
        TaskSpec("echo", {"x": object()}).build()


@pytest.mark.parametrize("kwargs,fragment", [
    ({"priority": 7}, "priority"), ({"max_retries": -1}, "max retries"),
    ({"timeout": 0}, "greater than 0"), ({"queue": "a/b"}, "queue"),
    ({"key": "k/1"}, "idempotency key"), ({"delay": -1}, "delay"),
    ({"retry_base": -2}, "retry_base"), ({"delay": "soon"}, "delay must be a number"),
    ({"delay": float("nan")}, "delay must be a number"), ({"delay": 1e12}, "delay must be from"),
    ({"run_at": -5}, "run_at must be from"),
    ({"retry_base": 10, "retry_cap": 5}, r"retry cap \(5s\) must not be shorter than the retry"),
])
def test_spec_build_refuses_bad_fields(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        TaskSpec("echo", **kwargs).build()  # type: ignore[arg-type]


def test_spec_build_defaults_name_to_type_and_drops_past_run_at() -> None:
    task = TaskSpec("echo", run_at=1.0).build(now=100.0)
    assert task.name == "echo" and task.run_at is None
    later = TaskSpec("echo", delay=5).build(now=100.0)
    assert later.run_at == 105.0


@pytest.mark.parametrize("timeout", [604800, 604800.0, 0.001])
def test_timeouts_up_to_a_week_pass(timeout: float) -> None:
    assert validate_timeout(timeout) == float(timeout)


@pytest.mark.parametrize("timeout", [0, -1, 604800.5, float("inf"), "10", True])
def test_timeouts_outside_the_rule_are_refused(timeout: object) -> None:
    with pytest.raises(ValidationError, match="timeout must be"):
        validate_timeout(timeout)


def test_delay_is_checked_by_the_one_rule() -> None:
    assert validate_delay(MAX_DELAY_SECONDS) == MAX_DELAY_SECONDS
    with pytest.raises(ValidationError, match=f"delay must be from 0 to {MAX_DELAY_SECONDS}"):
        validate_delay(MAX_DELAY_SECONDS + 1)


@pytest.mark.parametrize(("value", "message"), [
    (-1, "prefetch must be a whole number from 0 to 1000, got -1"),
    (1001, "prefetch must be a whole number from 0 to 1000, got 1001"),
    (1.5, "prefetch must be a whole number from 0 to 1000, got 1.5"),
    (True, "prefetch must be a whole number from 0 to 1000, got True"),
])
def test_a_prefetch_outside_its_bounds_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_prefetch(value)
    assert str(refused.value) == message


@pytest.mark.parametrize(("value", "message"), [
    (0, "prefetch hold must be greater than 0 and at most 60 seconds, got 0"),
    (61, "prefetch hold must be greater than 0 and at most 60 seconds, got 61"),
    ("x", "prefetch hold must be a number of seconds, got 'x'"),
])
def test_a_prefetch_hold_outside_its_bounds_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_prefetch_hold(value)
    assert str(refused.value) == message


def test_prefetch_bounds_are_inclusive() -> None:
    assert (validate_prefetch(0), validate_prefetch(1000)) == (0, 1000)
    assert validate_prefetch_hold(60) == 60.0
