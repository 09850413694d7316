"""`kubetask task get|list|cancel|retry|wait`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import click

from kubetask.cli.connect import one_shot_client
from kubetask.cli.describe import task_detail
from kubetask.cli.options import NameType, etcd_options
from kubetask.cli.render import dumps, task_rows
from kubetask.client import AsyncClient
from kubetask.model import MIN_TASK_ID_PREFIX, TaskState

STATES = [s.value for s in TaskState]


@click.group(help="Inspect and act on tasks.\n\nA TASK_ID may be shortened to a prefix of "
                  f"at least {MIN_TASK_ID_PREFIX} characters that no other task's id starts "
                  "with, as git takes a commit.")
def task() -> None:
    """Inspect and act on tasks."""


async def resolve(client: AsyncClient, task_ids: Sequence[str]) -> list[str]:
    """The full ids of `task_ids` (unique prefixes allowed), all resolved before anything is
    done: an ambiguous or unknown one stops the command with nothing changed."""
    return [await client.resolve_id(i) for i in task_ids]


@task.command()
@click.argument("task_id")
@etcd_options
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def get(task_id: str, etcd_endpoints: str, namespace: str, as_json: bool) -> None:
    """Show one task: its settings, times and every attempt."""

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            t = await c.get(await c.resolve_id(task_id))
            if as_json:
                click.echo(dumps(t.to_public()))
                return
            config = await c.queue_config(t.queue)
        click.echo(task_detail(t, namespace=namespace, queue_config=config))

    asyncio.run(run())


@task.command(name="list")
@etcd_options
@click.option("--queue", default=None, type=NameType("queue"), help="Only this queue.")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Most tasks listed (the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_(etcd_endpoints: str, namespace: str, queue: str | None, state: str | None,
          limit: int, as_json: bool) -> None:
    """List tasks, newest first."""

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            tasks = await c.list(queue=queue, state=state, limit=limit)
        if as_json:
            click.echo(dumps([t.to_public() for t in tasks]))
        elif tasks:
            click.echo(task_rows(tasks))
        else:
            click.echo("no tasks", err=True)

    asyncio.run(run())


@task.command()
@click.argument("task_ids", nargs=-1, required=True)
@etcd_options
def cancel(task_ids: tuple[str, ...], etcd_endpoints: str, namespace: str) -> None:
    """Cancel tasks (pending ones at once; running ones are told to stop)."""

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            for task_id in await resolve(c, task_ids):
                t = await c.cancel(task_id)
                note = "" if t.terminal else " (cancel requested; the worker is stopping it)"
                click.echo(f"{t.id} {t.state.value}{note}")

    asyncio.run(run())


@task.command()
@click.argument("task_ids", nargs=-1, required=True)
@etcd_options
def retry(task_ids: tuple[str, ...], etcd_endpoints: str, namespace: str) -> None:
    """Re-queue dead tasks with a fresh retry budget."""

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            for task_id in await resolve(c, task_ids):
                t = await c.retry(task_id)
                click.echo(f"{t.id} {t.state.value}")

    asyncio.run(run())


@task.command()
@click.argument("task_ids", nargs=-1, required=True)
@etcd_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Give up after this many seconds (exit 3; default: "
              "wait until they finish).")
def wait(task_ids: tuple[str, ...], etcd_endpoints: str, namespace: str,
         timeout: float | None) -> None:
    """Block until the tasks finish; exit 1 if any ends dead or cancelled (3: --timeout)."""

    async def run() -> int:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            try:
                done = await c.wait(await resolve(c, task_ids), timeout=timeout)
            except TimeoutError:  # as `client --wait --wait-timeout`
                click.echo(f"kubetask: gave up waiting after {timeout}s", err=True)
                return 3
        for t in done:
            click.echo(f"{t.id} {t.state.value}")
        return 1 if any(t.state in (TaskState.DEAD, TaskState.CANCELLED) for t in done) else 0

    sys.exit(asyncio.run(run()))
