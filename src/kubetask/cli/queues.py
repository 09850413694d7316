"""`kubetask queue show|set|reset`: a queue's defaults for tasks that set none."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import click

from kubetask.cli.connect import one_shot_client
from kubetask.cli.options import MAX_RETRIES_TYPE, Checked, NameType, etcd_options
from kubetask.cli.render import dumps, table
from kubetask.model import QueueConfig
from kubetask.model.validation import validate_backoff


def _backoff(field: str) -> Callable[[object], float | None]:
    """The check of a QueueConfig field: the message names it as the HTTP API does."""
    return lambda value: validate_backoff(field, value)


QUEUE_ARG = click.argument("queue_name", metavar="QUEUE", type=NameType("queue"))
FALLBACK = "worker's --max-retries / --retry-base / --retry-cap"


@click.group()
def queue() -> None:
    """A queue's defaults: retries and backoff for tasks that set none."""


@queue.command()
@click.argument("queue_name", metavar="[QUEUE]", required=False, type=NameType("queue"))
@etcd_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(queue_name: str | None, etcd_endpoints: str, namespace: str, as_json: bool) -> None:
    """Show the defaults of one queue, or of every queue."""

    async def run() -> dict[str, QueueConfig]:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            names = [queue_name] if queue_name else await c.queues()
            return {name: await c.queue_config(name) for name in names}

    configs = asyncio.run(run())
    if as_json:
        data = {name: {"queue": name, **cfg.to_dict()} for name, cfg in configs.items()}
        click.echo(dumps(data[queue_name] if queue_name else list(data.values())))
        return
    if not configs:
        click.echo("no queues", err=True)
        return
    click.echo(table(["QUEUE", "MAX-RETRIES", "RETRY-BASE", "RETRY-CAP"],
                     [[name, _or_dash(c.max_retries), _or_dash(c.retry_base_seconds, "s"),
                       _or_dash(c.retry_cap_seconds, "s")] for name, c in configs.items()]))
    click.echo(f"(-: the {FALLBACK})", err=True)


@queue.command(name="set")
@QUEUE_ARG
@etcd_options
@click.option("--max-retries", type=MAX_RETRIES_TYPE, default=None,
              help="Retries after a failed attempt.")
@click.option("--retry-base", type=Checked("seconds", _backoff("retry_base_seconds")),
              default=None, help="Backoff before the first retry (s); doubles each retry.")
@click.option("--retry-cap", type=Checked("seconds", _backoff("retry_cap_seconds")),
              default=None,
              help="Longest backoff (s).")
def set_(queue_name: str, etcd_endpoints: str, namespace: str, max_retries: int | None,
         retry_base: float | None, retry_cap: float | None) -> None:
    """Set defaults of QUEUE (the ones not given stay as they are); they apply to tasks
    already queued too, from their next failure on."""
    if max_retries is None and retry_base is None and retry_cap is None:
        raise click.UsageError("give at least one of --max-retries, --retry-base, --retry-cap")
    QueueConfig(retry_base_seconds=retry_base, retry_cap_seconds=retry_cap)  # before connecting

    async def run() -> QueueConfig:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            return await c.configure_queue(queue_name, max_retries=max_retries,
                                           retry_base=retry_base, retry_cap=retry_cap)

    click.echo(dumps({"queue": queue_name, **asyncio.run(run()).to_dict()}))


@queue.command()
@QUEUE_ARG
@etcd_options
def reset(queue_name: str, etcd_endpoints: str, namespace: str) -> None:
    """Forget the defaults of QUEUE: the workers' flags apply again."""

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            await c.reset_queue_config(queue_name)

    asyncio.run(run())
    click.echo(f"queue {queue_name}: defaults reset (the {FALLBACK} apply)", err=True)


def _or_dash(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"
