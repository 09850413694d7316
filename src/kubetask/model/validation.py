"""Checks on user input, done before anything is written to etcd."""

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

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$")


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
    if not _NAME.match(value):
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


def validate_timeout(value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValidationError(f"timeout must be a number of seconds, got {value!r}")
    if value <= 0:
        raise ValidationError(f"timeout must be greater than 0 seconds, got {value}")
    return float(value)


def validate_max_retries(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ValidationError(f"max retries must be a whole number from 0 to 100, got {value!r}")
    return value


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
