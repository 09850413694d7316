"""Checks on user input, done before anything is written to etcd: the one set of input rules.

Every entry point (CLI, SDK, HTTP API, operator) calls these functions, so a bad value gets
the same message wherever it comes from; the CRD schemas carry the same bounds (a unit test
compares them) and docs/LIMITS.md lists them all.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from kubetask.errors import ValidationError

# A payload (and a result) is stored twice per hop (record + index value); 128 KiB keeps a
# task far under etcd's 1.5 MiB request limit even then.
MAX_PAYLOAD_BYTES = 128 * 1024
MAX_RESULT_BYTES = 128 * 1024
MAX_NAME_LENGTH = 128
MAX_RETRIES = 100  # retries after a failed attempt: 0..MAX_RETRIES
MAX_TIMEOUT_SECONDS = 7 * 86400.0  # an attempt's timeout: (0, a week]
MAX_BACKOFF_SECONDS = 86400.0  # retry backoff base and cap: [0, a day]
MAX_DELAY_SECONDS = 366 * 86400  # a task may be scheduled up to a year ahead
MAX_PREFETCH = 1000  # tasks a worker may hold beyond its free slots: 0..MAX_PREFETCH
MAX_PREFETCH_HOLD_SECONDS = 60.0  # how long a prefetched task may wait: (0, a minute]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$")
_NAME = NAME_RE  # the name used before it was public


def validate_name(kind: str, value: object, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A queue, type, task, worker or namespace name: 1-128 of [A-Za-z0-9._:@+=-], no `..`."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{kind} name must be a non-empty string")
    if "\x00" in value:
        raise ValidationError(f"{kind} name {value!r} contains a NUL byte")
    if "/" in value:
        raise ValidationError(f"{kind} name {value!r} contains '/', which is not allowed")
    if ".." in value:
        raise ValidationError(f"{kind} name {value!r} contains '..', which is not allowed")
    if len(value) > max_length:
        raise ValidationError(f"{kind} name is {len(value)} characters long; the limit is {max_length}")
    if not NAME_RE.fullmatch(value):  # fullmatch: `$` alone lets a final "\n" through
        raise ValidationError(
            f"{kind} name {value!r} has characters outside letters, digits and . _ : @ + = -"
            " (it must start with a letter or digit)"
        )
    return value


def encode_json(value: Any, *, what: str, limit: int) -> bytes:
    """JSON-encode `value` (non-finite floats refused) and enforce a size cap."""
    try:
        data = orjson.dumps(value)
    except TypeError as exc:
        raise ValidationError(f"{what} is not JSON-serializable: {exc}") from exc
    _refuse_non_finite(value, what)
    if len(data) > limit:
        raise ValidationError(f"{what} is {len(data)} bytes of JSON; the limit is {limit} bytes")
    return data


def validate_payload(value: Any) -> Any:
    encode_json(value, what="payload", limit=MAX_PAYLOAD_BYTES)
    return value


def parse_payload(text: str) -> Any:
    """Parse a --payload argument: it must be JSON."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"--payload is not valid JSON ({exc}); example: '{{\"n\": 1}}'") from exc
    return validate_payload(value)


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}")
    return float(value)


def validate_timeout(value: object) -> float | None:
    """An attempt's timeout: more than 0, at most MAX_TIMEOUT_SECONDS (None: no timeout)."""
    if value is None:
        return None
    seconds = _number("timeout", value)
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise ValidationError(f"timeout must be greater than 0 and at most "
                              f"{MAX_TIMEOUT_SECONDS:g} seconds (a week), got {value!r}")
    return seconds


def validate_seconds(what: str, value: object, *, low: float, high: float) -> float | None:
    """A number of seconds from `low` to `high` (None stays None)."""
    if value is None:
        return None
    seconds = _number(what, value)
    if not low <= seconds <= high:
        raise ValidationError(f"{what} must be from {low:.12g} to {high:.12g} seconds, got {value!r}")
    return seconds


def validate_delay(value: object) -> float | None:
    """Seconds from now before a task may start: 0 to MAX_DELAY_SECONDS."""
    return validate_seconds("delay", value, low=0, high=MAX_DELAY_SECONDS)


def validate_backoff(what: str, value: object) -> float | None:
    """A retry backoff (base or cap): 0 to MAX_BACKOFF_SECONDS."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 <= value <= MAX_BACKOFF_SECONDS):
        raise ValidationError(f"{what} must be a number of seconds from 0 to "
                              f"{MAX_BACKOFF_SECONDS:g}, got {value!r}")
    return float(value)


def validate_max_retries(value: object) -> int:
    if (not isinstance(value, int) or isinstance(value, bool)
            or not 0 <= value <= MAX_RETRIES):
        raise ValidationError(f"max retries must be a whole number from 0 to {MAX_RETRIES}, "
                              f"got {value!r}")
    return value


def validate_prefetch(value: object) -> int:
    """A worker's prefetch: a whole number from 0 (strict placement) to MAX_PREFETCH."""
    if (not isinstance(value, int) or isinstance(value, bool)
            or not 0 <= value <= MAX_PREFETCH):
        raise ValidationError(f"prefetch must be a whole number from 0 to {MAX_PREFETCH}, "
                              f"got {value!r}")
    return value


def validate_prefetch_hold(value: object) -> float:
    """How long a prefetched task may wait for a slot: more than 0, at most a minute."""
    seconds = _number("prefetch hold", value)
    if not 0 < seconds <= MAX_PREFETCH_HOLD_SECONDS:
        raise ValidationError(f"prefetch hold must be greater than 0 and at most "
                              f"{MAX_PREFETCH_HOLD_SECONDS:g} seconds, got {value!r}")
    return seconds


def _refuse_non_finite(value: Any, what: str) -> None:
    # orjson writes NaN/Infinity as null silently; refuse instead of changing the data.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"{what} contains {item}, which JSON cannot represent")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
