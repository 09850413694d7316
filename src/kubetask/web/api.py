"""The JSON HTTP API under /api/v1, on the asyncio SDK: submit, get, list, cancel, retry, stats,
queue defaults."""

from __future__ import annotations

import asyncio

from aiohttp import web

from kubetask import __version__
from kubetask.client import AsyncClient
from kubetask.errors import KubetaskError, ValidationError
from kubetask.metrics import encode
from kubetask.model import Task, TaskState, validate_name
from kubetask.web import parsing
from kubetask.web.context import API_METRICS, CLIENT, HUB, QUEUE_COLLECTOR, REGISTRY, SETTINGS
from kubetask.web.events import stream
from kubetask.web.openapi import openapi_document
from kubetask.web.views import json_response, stats_body

MAX_SCAN = 5000  # task records read per list request when filtering without an index
SCRAPE_TIMEOUT = 5.0

routes = web.RouteTableDef()


async def _body(request: web.Request) -> object:
    return parsing.parse_json(await request.read())


async def _task_id(request: web.Request) -> str:
    """The path's task id: a full one, or a prefix that no other task's id starts with
    (400 when ambiguous or malformed, 404 when no task matches)."""
    return await request.app[CLIENT].resolve_id(request.match_info["id"])


# --- tasks -----------------------------------------------------------------------------
@routes.post("/api/v1/tasks")
async def submit_task(request: web.Request) -> web.Response:
    spec = parsing.task_spec(await _body(request))
    tasks = await request.app[CLIENT].submit_many([spec])
    request.app[API_METRICS].submitted(tasks)
    return json_response(tasks[0].to_public(), 201)


@routes.post("/api/v1/tasks:batch")
async def submit_tasks(request: web.Request) -> web.Response:
    specs = parsing.batch_specs(await _body(request), limit=request.app[SETTINGS].max_batch)
    tasks = await request.app[CLIENT].submit_many(specs)
    request.app[API_METRICS].submitted(tasks)
    return json_response({"tasks": [t.to_public() for t in tasks]}, 201)


@routes.get("/api/v1/tasks/{id}")
async def get_task(request: web.Request) -> web.Response:
    task = await request.app[CLIENT].get(await _task_id(request))
    return json_response(task.to_public())


@routes.get("/api/v1/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    f = parsing.task_filter(request.query)
    tasks, after = await _find(request.app[CLIENT], f)
    return json_response({"tasks": [t.to_public() for t in tasks], "next": after})


async def _find(client: AsyncClient, f: parsing.TaskFilter) -> tuple[list[Task], str | None]:
    """Newest first; the cursor to the next page (None: no more).

    A state filter uses the state's index (the SDK reads it by queue). Without one, the
    task records are read in pages, newest first, and queue, type and priority are
    filtered here: at most MAX_SCAN records per request (a short page then still has a
    cursor to go on from). One task more than asked for tells whether a next page exists.
    """
    indexed = f.state is not None
    scanning = f.type is not None or f.priority is not None or (f.queue is not None
                                                                  and not indexed)
    want = f.limit + 1
    page = min(max(want * 4, 200), parsing.MAX_LIMIT) if scanning else want
    found: list[Task] = []
    cursor, scanned = f.after, 0
    while True:
        batch = await client.list(queue=f.queue if indexed else None, state=f.state,
                                  limit=page, after=cursor)
        found += [task for task in batch if f.matches(task)]
        if len(found) >= want:
            return found[:f.limit], found[f.limit - 1].id
        if len(batch) < page:
            return found, None
        cursor = batch[-1].id
        scanned += len(batch)
        if scanned >= MAX_SCAN:
            return found, cursor


@routes.post("/api/v1/tasks/{id}/cancel")
async def cancel_task(request: web.Request) -> web.Response:
    task = await request.app[CLIENT].cancel(await _task_id(request))
    # A running task's worker stops it: the cancel is accepted, not yet done.
    return json_response(task.to_public(), 200 if task.state is TaskState.CANCELLED else 202)


@routes.post("/api/v1/tasks/{id}/retry")
async def retry_task(request: web.Request) -> web.Response:
    task = await request.app[CLIENT].retry(await _task_id(request))
    return json_response(task.to_public())


# --- queues and stats ------------------------------------------------------------------
@routes.get("/api/v1/stats")
async def stats(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"queue"})
    if unknown:
        raise ValidationError(f"unknown query parameter(s) {', '.join(unknown)}; use queue")
    queue = request.query.get("queue") or None
    if queue is not None:
        validate_name("queue", queue)
    client = request.app[CLIENT]
    return json_response(stats_body(client.namespace, await client.stats(queue, known=True)))


@routes.get("/api/v1/throughput")
async def throughput(request: web.Request) -> web.Response:
    if request.query:
        raise ValidationError(f"unknown query parameter(s) {', '.join(sorted(request.query))}; "
                              "this takes none")
    return json_response((await request.app[CLIENT].throughput()).to_dict())


@routes.get("/api/v1/queues")
async def queues(request: web.Request) -> web.Response:
    return json_response({"queues": await request.app[CLIENT].queues()})


@routes.get("/api/v1/queues/{queue}/config")
async def get_queue_config(request: web.Request) -> web.Response:
    queue = validate_name("queue", request.match_info["queue"])
    config = await request.app[CLIENT].queue_config(queue)
    return json_response({"queue": queue, **config.to_dict()})


@routes.put("/api/v1/queues/{queue}/config")
async def put_queue_config(request: web.Request) -> web.Response:
    queue = validate_name("queue", request.match_info["queue"])
    config = parsing.queue_config(await _body(request))
    await request.app[CLIENT].set_queue_config(queue, config)
    return json_response({"queue": queue, **config.to_dict()})


@routes.delete("/api/v1/queues/{queue}/config")
async def delete_queue_config(request: web.Request) -> web.Response:
    queue = validate_name("queue", request.match_info["queue"])
    await request.app[CLIENT].reset_queue_config(queue)
    return json_response({"queue": queue})


# --- the server itself -----------------------------------------------------------------
def _info(request: web.Request) -> dict[str, object]:
    settings = request.app[SETTINGS]
    return {"version": __version__, "namespace": request.app[CLIENT].namespace,
            "writes": settings.writes, "stats_interval": settings.stats_interval}


@routes.get("/api/v1/info")
async def info(request: web.Request) -> web.Response:
    return json_response(_info(request))


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(__version__))


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    return await stream(request, request.app[HUB], _info(request))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            await request.app[CLIENT].queues()
    except (KubetaskError, TimeoutError) as exc:
        reason = str(exc) or f"no answer within {SCRAPE_TIMEOUT:.0f} s"
        return json_response({"status": "unavailable", "error": f"etcd: {reason}"}, 503)
    return json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; queue figures are read from etcd now, at scrape time."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            figures = await request.app[CLIENT].stats()
    except (KubetaskError, TimeoutError):
        figures = None
    request.app[QUEUE_COLLECTOR].update(figures)
    body, content_type = encode(request.app[REGISTRY], request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
