"""`kubetask stats`: per-queue counts and per-worker load."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import click

from kubetask.cli.connect import one_shot_client
from kubetask.cli.options import NameType, etcd_options
from kubetask.cli.render import age, dumps, table
from kubetask.client import AsyncClient


@click.command()
@etcd_options
@click.option("--queue", default=None, type=NameType("queue"), help="Only this queue.")
@click.option("--json", "as_json", is_flag=True, help="JSON: one object per queue "
              "(a single object with --queue).")
@click.option("--watch", type=click.FloatRange(min=0.2), default=None, metavar="SECONDS",
              help="Refresh every SECONDS until Ctrl-C.")
def stats(etcd_endpoints: str, namespace: str, queue: str | None, as_json: bool,
          watch: float | None) -> None:
    """Show statistics of queues and workers."""

    async def once(c: AsyncClient) -> None:
        data = [s.to_dict() for s in await c.stats(queue, known=True)]
        if as_json:
            click.echo(dumps(data[0] if queue is not None and data else data))
        else:
            click.echo(render(data))

    async def run() -> None:
        async with one_shot_client(etcd_endpoints, namespace) as c:
            while True:
                if watch is not None and not as_json:
                    click.clear()
                await once(c)
                if watch is None:
                    return
                await asyncio.sleep(watch)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def render(data: list[dict[str, Any]]) -> str:
    if not data:
        return "no queues yet (submit a task first)"
    # Tasks by state first (each task is in one); failed attempts apart: attempts, not tasks.
    out = [table(["QUEUE", "TOTAL", "PENDING", "RUNNING", "SUCCEEDED", "RETRYING", "DEAD",
                  "CANCELLED", "FAILED ATTEMPTS", "WORKERS", "LEADER"],
                 [[q["queue"], q["total"], q["pending"], q["running"], q["succeeded"],
                   q["retrying"], q["dead"], q["cancelled"], q["failed_attempts"], q["workers"],
                   q["leader"] or "-"] for q in data])]
    out += [f"{q['queue']}: {q['orphaned']} running tasks of workers that left (handed back "
            "by the scheduler shortly)" for q in data if q.get("orphaned")]
    rows = [[q["queue"], w["id"], w["state"], f"{w['busy_slots']}/{w['capacity']}",
             f"{w['prefetched']}/{w['prefetch']}", w["weight"],
             f"{w['cpu_percent']:.1f}", f"{w['memory_percent']:.1f}", w["succeeded"],
             w["failed_attempts"], age(w["counted_since"]), age(w["last_heartbeat"])]
            for q in data for w in q["worker_stats"]]
    if rows:
        out += ["", table(["QUEUE", "WORKER", "STATE", "RUNNING", "PREFETCHED", "WEIGHT",
                           "CPU%", "MEM%",
                           "SUCCEEDED", "FAILED ATTEMPTS", "SINCE", "HEARTBEAT"], rows)]
    out += ["", f"One snapshot, at etcd revision {data[0]['revision']}. Queue counts cover the "
            "stored tasks (finished ones are kept for the retention period);",
            "a worker's SUCCEEDED and FAILED ATTEMPTS count since it started (SINCE ago); "
            "RUNNING: of its slots;",
            "PREFETCHED: assigned to it beyond its slots, waiting for one / how many it takes "
            "now. A queue's RUNNING counts both (assigned or running)."]
    return "\n".join(out)
