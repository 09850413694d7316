"""Options shared by every command (each also read from a KUBETASK_* variable)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubetask.errors import ValidationError
from kubetask.model import Priority, validate_name
from kubetask.model.validation import (
    validate_backoff,
    validate_delay,
    validate_max_retries,
    validate_timeout,
)

F = TypeVar("F", bound=Callable[..., Any])


def generated_id(role: str) -> str:
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())[:40]
    return f"{role}-{host or 'host'}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class NameType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A queue/type/task/worker name: refused if it could break a key."""

    name = "name"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return validate_name(self.kind, value)
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


class Checked(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A number checked by the engine's own rule (model/validation.py): the CLI refuses it
    with the same message as the SDK and the HTTP API."""

    def __init__(self, name: str, check: Callable[[object], Any], *,
                 whole: bool = False) -> None:
        self.name = name
        self.check = check
        self.whole = whole

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number: object = value
        if isinstance(value, str):
            try:
                number = int(value) if self.whole else float(value)
            except ValueError:
                number = value  # the rule's message names the bad text
        try:
            return self.check(number)
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


MAX_RETRIES_TYPE = Checked("integer", validate_max_retries, whole=True)
TIMEOUT_TYPE = Checked("seconds", validate_timeout)
DELAY_TYPE = Checked("seconds", validate_delay)
RETRY_BASE_TYPE = Checked("seconds", lambda v: validate_backoff("retry_base", v))
RETRY_CAP_TYPE = Checked("seconds", lambda v: validate_backoff("retry_cap", v))


class PriorityType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    name = "priority"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            return int(Priority.parse(value))
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


def etcd_options(f: F) -> F:
    f = click.option("--namespace", default="default", show_default=True,
                     envvar="KUBETASK_NAMESPACE", type=NameType("namespace"),
                     help="Tenant: keeps queues of several namespaces apart in one etcd.")(f)
    f = click.option("--etcd-endpoints", default="localhost:2379", show_default=True,
                     envvar="KUBETASK_ETCD_ENDPOINTS",
                     help="Comma-separated etcd endpoints (host:port).")(f)
    return f


def log_options(f: F) -> F:
    f = click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, envvar="KUBETASK_LOG_FORMAT")(f)
    f = click.option("--log-level", type=click.Choice(["debug", "info", "warn", "error"]),
                     default="info", show_default=True, envvar="KUBETASK_LOG_LEVEL")(f)
    return f


def queue_option(f: F) -> F:
    return click.option("--queue", default="default", show_default=True,
                        envvar="KUBETASK_QUEUE", type=NameType("queue"),
                        help="Queue name.")(f)
