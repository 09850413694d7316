"""`kubetask client`: submit tasks, the seed's way (and wait for them with --wait)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from kubetask.cli.connect import one_shot_client
from kubetask.cli.options import (
    DELAY_TYPE,
    MAX_RETRIES_TYPE,
    RETRY_BASE_TYPE,
    RETRY_CAP_TYPE,
    TIMEOUT_TYPE,
    NameType,
    PriorityType,
    etcd_options,
    queue_option,
)
from kubetask.client import TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import TaskState
from kubetask.model.validation import parse_payload


def read_argument(text: str, option: str) -> str:
    """`@path` reads the value from a file (for payloads too large for a command line)."""
    if not text.startswith("@"):
        return text
    try:
        return Path(text[1:]).read_text()
    except OSError as exc:
        raise ValidationError(f"{option} {text}: cannot read the file ({exc.strerror})") from exc



@click.command()
@etcd_options
@queue_option
@click.option("--type", "type_", default="echo", show_default=True, type=NameType("task type"),
              envvar="KUBETASK_TYPE", help="Task type: echo, compute, unreliable, noop or a "
              "custom executor's.")
@click.option("--name", default="test-task", show_default=True, type=NameType("task"),
              help="Task name (a label; ids are generated).")
@click.option("--priority", type=PriorityType(), default="1", show_default=True,
              help="0=low, 1=normal, 2=high, 3=urgent (names accepted).")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=1, show_default=True,
              help="How many tasks to submit (in batches).")
@click.option("--payload", default=None,
              help="JSON payload, e.g. '{\"duration\": 0.5}', or @FILE to read it from a file.")
@click.option("--max-retries", type=MAX_RETRIES_TYPE, default=None,
              help="Retries after a failed attempt; default: the queue's (kubetask queue "
              "set), else the worker's (3).")
@click.option("--timeout", type=TIMEOUT_TYPE, default=None,
              help="Seconds an attempt may run before it is stopped and counted failed.")
@click.option("--delay", type=DELAY_TYPE, default=None,
              help="Start no sooner than this many seconds from now.")
@click.option("--retry-base", type=RETRY_BASE_TYPE, default=None,
              help="Backoff before the first retry (s); default: the queue's, else the worker's.")
@click.option("--retry-cap", type=RETRY_CAP_TYPE, default=None,
              help="Longest retry backoff (s); default: the queue's, else the worker's.")
@click.option("--idempotency-key", default=None, type=NameType("idempotency key"),
              help="A retried submit with the same key returns the first task.")
@click.option("--wait", is_flag=True, help="Block until the tasks finish; exit 1 if any "
              "ends dead or cancelled.")
@click.option("--wait-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --wait: give up after this many seconds (exit 3).")
def client(etcd_endpoints: str, namespace: str, queue: str, type_: str, name: str,
           priority: int, count: int, payload: str | None, max_retries: int | None,
           timeout: float | None, delay: float | None, retry_base: float | None,
           retry_cap: float | None, idempotency_key: str | None,
           wait: bool, wait_timeout: float | None) -> None:
    """Submit tasks; prints each task id on its own line."""
    if wait_timeout is not None and not wait:
        raise click.UsageError("--wait-timeout needs --wait (it bounds how long --wait "
                               "waits): add --wait, or drop --wait-timeout")
    value = parse_payload(read_argument(payload, "--payload")) if payload is not None else None

    def key(i: int) -> str | None:
        if idempotency_key is None:
            return None
        return idempotency_key if count == 1 else f"{idempotency_key}.{i}"

    specs = [TaskSpec(type_, value, queue=queue, name=name, priority=priority,
                      max_retries=max_retries, timeout=timeout, key=key(i), delay=delay,
                      retry_base=retry_base, retry_cap=retry_cap)
             for i in range(count)]
    for spec in specs[:1]:
        spec.build()  # validate before connecting

    async def run() -> int:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            workers = await c.workers(queue)
            if workers and not any(type_ in w.types for w in workers):
                click.echo(f"kubetask: warning: no worker of queue {queue!r} has an executor for "
                           f"type {type_!r} (they know {', '.join(sorted(workers[0].types))})",
                           err=True)
            tasks = await c.submit_many(specs)
            sys.stdout.write("".join(f"{t.id}\n" for t in tasks))
            sys.stdout.flush()
            if not wait:
                return 0
            try:
                done = await c.wait([t.id for t in tasks], timeout=wait_timeout)
            except TimeoutError:
                click.echo(f"kubetask: gave up waiting after {wait_timeout}s", err=True)
                return 3
            counts: dict[str, int] = {}
            for t in done:
                counts[t.state.value] = counts.get(t.state.value, 0) + 1
            click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)
            bad = any(t.state in (TaskState.DEAD, TaskState.CANCELLED) for t in done)
            return 1 if bad else 0

    sys.exit(asyncio.run(run()))
