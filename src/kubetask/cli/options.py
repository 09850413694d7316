"""Options shared by every command (each also read from a KUBETASK_* variable)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubetask.errors import ValidationError
from kubetask.model import EtcdCredentials, Priority, validate_name
from kubetask.model.credentials import ENV_PASSWORD
from kubetask.model.validation import (
    validate_backoff,
    validate_delay,
    validate_max_retries,
    validate_prefetch,
    validate_prefetch_hold,
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
PREFETCH_TYPE = Checked("integer", validate_prefetch, whole=True)
PREFETCH_HOLD_TYPE = Checked("seconds", validate_prefetch_hold)


class PriorityType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    name = "priority"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            return int(Priority.parse(value))
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"kubetask.{param.name}"] = value
    return value


def etcd_security_options(f: F) -> F:
    """TLS and etcd-user options, kept in the context: read them with etcd_credentials()."""
    for flag, env, text in reversed([
            ("--etcd-cacert", "KUBETASK_ETCD_CACERT", "CA certificate (PEM) that verifies "
             "etcd's serving certificate; turns TLS on."),
            ("--etcd-cert", "KUBETASK_ETCD_CERT", "Client certificate (PEM) for etcd's "
             "client-certificate auth (its CN is the etcd user); needs --etcd-key."),
            ("--etcd-key", "KUBETASK_ETCD_KEY", "Private key (PEM) of --etcd-cert."),
            ("--etcd-user", "KUBETASK_ETCD_USER", "etcd user (auth enabled in etcd); the "
             f"password comes from {ENV_PASSWORD} or --etcd-password-file."),
            ("--etcd-password-file", "KUBETASK_ETCD_PASSWORD_FILE",
             "File holding the etcd user's password (read when a user is set).")]):
        f = click.option(flag, envvar=env, default=None, metavar="PATH" if "user" not in flag
                         else "NAME", expose_value=False, callback=_remember, help=text)(f)
    return f


def etcd_credentials() -> EtcdCredentials:
    """The current command's etcd credentials (flags, KUBETASK_* variables, password file)."""
    meta = click.get_current_context().meta
    user = meta.get("kubetask.etcd_user")
    password = os.environ.get(ENV_PASSWORD) or None
    password_file = meta.get("kubetask.etcd_password_file")
    if user and password_file:
        try:
            password = Path(password_file).read_text().rstrip("\r\n")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {password_file}: {exc.strerror or exc}",
                                     param_hint="--etcd-password-file") from None
    try:
        return EtcdCredentials(cacert=meta.get("kubetask.etcd_cacert"),
                               cert=meta.get("kubetask.etcd_cert"),
                               key=meta.get("kubetask.etcd_key"), user=user, password=password)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None


def etcd_options(f: F) -> F:
    f = etcd_security_options(f)
    f = click.option("--namespace", default="default", show_default=True,
                     envvar="KUBETASK_NAMESPACE", type=NameType("namespace"),
                     help="Tenant: keeps queues of several namespaces apart in one etcd.")(f)
    f = click.option("--etcd-endpoints", default="localhost:2379", show_default=True,
                     envvar="KUBETASK_ETCD_ENDPOINTS",
                     help="Comma-separated etcd endpoints (host:port).")(f)
    return f


def log_options(f: F) -> F:
    f = click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, envvar="KUBETASK_LOG_FORMAT",
                     help="Log lines on stderr as text, or as JSON objects (one a line).")(f)
    f = click.option("--log-level", type=click.Choice(["debug", "info", "warn", "error"]),
                     default="info", show_default=True, envvar="KUBETASK_LOG_LEVEL",
                     help="Least severe log lines shown.")(f)
    return f


def queue_option(f: F) -> F:
    return click.option("--queue", default="default", show_default=True,
                        envvar="KUBETASK_QUEUE", type=NameType("queue"),
                        help="Queue name.")(f)
