"""The JSON HTTP API on a real etcd: every route, bad input, the write guard, live events,
and a schemathesis fuzz run of the OpenAPI document that must find no server error."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import MAX_PAYLOAD_BYTES, QueueConfig, RetryPolicy, TaskState
from kubetask.store import Store
from kubetask.web.server import create_app
from kubetask.web.settings import DashboardSettings
from tests.harness import InProcessSystem, running_dashboard

pytestmark = pytest.mark.etcd

Serve = Callable[..., Awaitable[str]]
FAST_RETRY = RetryPolicy(base_seconds=0.05, cap_seconds=0.1)


@pytest.fixture
async def serve(client: AsyncClient) -> AsyncIterator[Serve]:
    """serve(**settings) -> base URL of a dashboard over the test namespace."""
    stack = contextlib.AsyncExitStack()

    async def start(**overrides: Any) -> str:
        settings = DashboardSettings(namespace=client.namespace, port=0,
                                     stats_interval=0.2, **overrides)
        return await stack.enter_async_context(running_dashboard(client, settings))

    async with stack:
        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def base(serve: Serve) -> str:
    """A dashboard that allows writes."""
    return await serve(allow_writes=True)


async def call(http: aiohttp.ClientSession, method: str, url: str, *,
               json: Any = None, data: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body = orjson.dumps(json) if json is not None else data
    stream = io.BytesIO(body) if body is not None and len(body) > 1_000_000 else body
    async with http.request(method, url, data=stream, headers=headers) as response:
        raw = await response.read()
        if response.content_type == "application/json":
            return response.status, orjson.loads(raw)
        return response.status, raw.decode()


# --- submit, get, list ------------------------------------------------------------------
async def test_submit_returns_201_and_the_stored_task(base: str, http: aiohttp.ClientSession,
                                                      client: AsyncClient) -> None:
    status, body = await call(http, "POST", f"{base}/api/v1/tasks", json={
        "type": "echo", "payload": {"n": 1}, "queue": "q1", "name": "first", "priority": "high",
        "max_retries": 2, "timeout": 30, "key": "k-1"})
    assert status == 201
    stored = await client.get(body["id"])
    assert (stored.queue, stored.type, stored.name, stored.payload) == ("q1", "echo", "first",
                                                                         {"n": 1})
    assert (stored.priority, stored.max_retries, stored.timeout_seconds) == (2, 2, 30.0)
    assert body["state"] == "pending" and body["priority_name"] == "high"


async def test_submit_takes_a_tasks_own_backoff_as_the_sdk_and_cli_do(
        base: str, http: aiohttp.ClientSession, client: AsyncClient, store: Store) -> None:
    status, body = await call(http, "POST", f"{base}/api/v1/tasks", json={
        "type": "echo", "retry_base": 0.5, "retry_cap": 8})
    assert status == 201, body
    stored = await client.get(body["id"])
    assert (stored.retry_base_seconds, stored.retry_cap_seconds) == (0.5, 8.0)
    before = await store.revision()
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks", json={
        "type": "echo", "retry_base": 10, "retry_cap": 5})
    assert status == 400
    with pytest.raises(ValidationError) as sdk:
        await client.submit("echo", retry_base=10, retry_cap=5)
    assert answer["error"] == str(sdk.value)  # the same rule, the same words
    assert await store.revision() == before


async def test_submit_with_a_used_key_returns_the_first_task(base: str,
                                                             http: aiohttp.ClientSession) -> None:
    task = {"type": "echo", "key": "same"}
    _, first = await call(http, "POST", f"{base}/api/v1/tasks", json=task)
    _, second = await call(http, "POST", f"{base}/api/v1/tasks", json=task)
    assert second["id"] == first["id"]


async def test_submit_with_delay_waits_in_retrying_index(base: str, http: aiohttp.ClientSession,
                                                         client: AsyncClient) -> None:
    status, body = await call(http, "POST", f"{base}/api/v1/tasks",
                              json={"type": "echo", "delay": 3600})
    assert status == 201 and body["run_at"] is not None
    (stats,) = await client.stats("default")
    assert stats.counts.pending == 0 and stats.counts.retrying == 1


async def test_batch_stores_all_tasks_in_order(base: str, http: aiohttp.ClientSession,
                                               client: AsyncClient) -> None:
    tasks = [{"type": "echo", "payload": {"i": i}, "priority": i % 4} for i in range(20)]
    status, body = await call(http, "POST", f"{base}/api/v1/tasks:batch", json={"tasks": tasks})
    assert status == 201
    assert [t["payload"] for t in body["tasks"]] == [{"i": i} for i in range(20)]
    stored = [await client.get(t["id"]) for t in body["tasks"]]
    assert [t.payload for t in stored] == [{"i": i} for i in range(20)]


async def test_batch_with_one_bad_task_stores_none(base: str, http: aiohttp.ClientSession,
                                                   client: AsyncClient) -> None:
    tasks = [{"type": "echo"}, {"type": "echo", "priority": 7}, {"type": "echo"}]
    status, body = await call(http, "POST", f"{base}/api/v1/tasks:batch", json={"tasks": tasks})
    assert status == 400 and body["error"].startswith("tasks[1]: invalid priority 7")
    assert await client.queues() == []


async def test_get_returns_payload_attempts_and_result(base: str, http: aiohttp.ClientSession,
                                                       client: AsyncClient,
                                                       system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker(retry=FAST_RETRY)
    task = await client.submit("echo", {"duration": 0, "x": "y"})
    await client.wait([task.id], timeout=20)
    status, body = await call(http, "GET", f"{base}/api/v1/tasks/{task.id}")
    assert status == 200
    assert body["state"] == "succeeded" and body["result"] == {"duration": 0, "x": "y"}
    assert body["payload"] == {"duration": 0, "x": "y"}
    assert [(a["number"], a["worker"], a["outcome"]) for a in body["history"]] == [
        (1, "w0", "succeeded")]


async def test_list_filters_by_queue_state_type_priority(base: str, http: aiohttp.ClientSession,
                                                         client: AsyncClient) -> None:
    specs = [TaskSpec("echo", queue="a", priority=3), TaskSpec("echo", queue="a", priority=0),
             TaskSpec("compute", queue="a", priority=3), TaskSpec("echo", queue="b", priority=3)]
    tasks = await client.submit_many(specs)
    await client.cancel(tasks[1].id)

    async def ids(query: str) -> list[str]:
        status, body = await call(http, "GET", f"{base}/api/v1/tasks?{query}")
        assert status == 200, body
        return [t["id"] for t in body["tasks"]]

    newest_first = [t.id for t in reversed(tasks)]
    assert await ids("") == newest_first
    assert await ids("queue=a") == [tasks[2].id, tasks[1].id, tasks[0].id]
    assert await ids("state=cancelled") == [tasks[1].id]
    assert await ids("queue=a&state=pending&type=echo") == [tasks[0].id]
    assert await ids("priority=urgent&type=echo") == [tasks[3].id, tasks[0].id]
    assert await ids("priority=3&queue=b") == [tasks[3].id]
    assert await ids("type=nothing-like-it") == []


async def test_list_pages_with_the_next_cursor(base: str, http: aiohttp.ClientSession,
                                               client: AsyncClient) -> None:
    tasks = await client.submit_many([TaskSpec("echo", {"i": i}) for i in range(7)])
    seen: list[str] = []
    after = ""
    for _ in range(10):
        _, body = await call(http, "GET", f"{base}/api/v1/tasks?limit=3&after={after}")
        seen += [t["id"] for t in body["tasks"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == [t.id for t in reversed(tasks)]


async def test_a_full_last_page_says_there_is_no_next(base: str, http: aiohttp.ClientSession,
                                                      client: AsyncClient) -> None:
    await client.submit_many([TaskSpec("echo") for _ in range(4)])
    _, first = await call(http, "GET", f"{base}/api/v1/tasks?limit=2")
    _, second = await call(http, "GET", f"{base}/api/v1/tasks?limit=2&after={first['next']}")
    assert len(first["tasks"]) == len(second["tasks"]) == 2
    assert first["next"] is not None and second["next"] is None


async def test_list_filtered_by_type_pages_too(base: str, http: aiohttp.ClientSession,
                                               client: AsyncClient) -> None:
    specs = [TaskSpec("echo" if i % 3 else "compute", {"i": i}) for i in range(12)]
    tasks = await client.submit_many(specs)
    want = [t.id for t in reversed(tasks) if t.type == "compute"]
    _, first = await call(http, "GET", f"{base}/api/v1/tasks?type=compute&limit=2")
    _, second = await call(http, "GET",
                           f"{base}/api/v1/tasks?type=compute&limit=2&after={first['next']}")
    assert [t["id"] for t in first["tasks"] + second["tasks"]] == want


# --- cancel and retry -------------------------------------------------------------------
async def test_cancel_a_pending_task_then_again_is_409(base: str, http: aiohttp.ClientSession,
                                                       client: AsyncClient) -> None:
    task = await client.submit("echo")
    status, body = await call(http, "POST", f"{base}/api/v1/tasks/{task.id}/cancel")
    assert status == 200 and body["state"] == "cancelled"
    assert (await client.get(task.id)).state is TaskState.CANCELLED
    status, body = await call(http, "POST", f"{base}/api/v1/tasks/{task.id}/cancel")
    assert status == 409 and "already cancelled" in body["error"]


async def test_cancel_a_running_task_is_accepted_then_done(base: str, http: aiohttp.ClientSession,
                                                           client: AsyncClient,
                                                           system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker()
    task = await client.submit("echo", {"duration": 30})
    async with asyncio.timeout(15):
        while True:
            if (await client.get(task.id)).state is TaskState.RUNNING:
                break
            await asyncio.sleep(0.05)
    status, body = await call(http, "POST", f"{base}/api/v1/tasks/{task.id}/cancel")
    assert status == 202 and body["state"] == "running"
    (done,) = await client.wait([task.id], timeout=20)
    assert done.state is TaskState.CANCELLED


async def test_retry_requeues_a_dead_task_and_refuses_others(base: str,
                                                             http: aiohttp.ClientSession,
                                                             client: AsyncClient,
                                                             system: InProcessSystem) -> None:
    await system.scheduler()
    await system.worker()
    dead = await client.submit("no-such-type", max_retries=0)
    (done,) = await client.wait([dead.id], timeout=20)
    assert done.state is TaskState.DEAD
    await system.workers[0].stop(graceful=False)  # nothing runs it again before we look
    status, body = await call(http, "POST", f"{base}/api/v1/tasks/{dead.id}/retry")
    assert status == 200 and body["state"] == "pending" and body["attempts"] == 0
    assert (await client.get(dead.id)).state is TaskState.PENDING
    status, body = await call(http, "POST", f"{base}/api/v1/tasks/{dead.id}/retry")
    assert status == 409 and "only dead tasks" in body["error"]


# --- stats, queues, info, health ---------------------------------------------------------
async def test_stats_and_queues_report_exact_counts(base: str, http: aiohttp.ClientSession,
                                                    client: AsyncClient) -> None:
    tasks = await client.submit_many([TaskSpec("echo", queue="s1", priority=p)
                                      for p in (0, 1, 1, 3)] + [TaskSpec("echo", queue="s2")])
    await client.cancel(tasks[0].id)
    status, body = await call(http, "GET", f"{base}/api/v1/stats")
    assert status == 200 and body["namespace"] == client.namespace
    by_queue = {q["queue"]: q for q in body["queues"]}
    assert set(by_queue) == {"s1", "s2"}
    s1 = by_queue["s1"]
    assert (s1["total"], s1["pending"], s1["cancelled"], s1["workers"]) == (4, 3, 1, 0)
    assert s1["pending_by_priority"] == {"low": 0, "normal": 2, "high": 0, "urgent": 1}
    status, body = await call(http, "GET", f"{base}/api/v1/stats?queue=s2")
    assert [q["queue"] for q in body["queues"]] == ["s2"] and body["queues"][0]["pending"] == 1
    status, body = await call(http, "GET", f"{base}/api/v1/queues")
    assert (status, body) == (200, {"queues": ["s1", "s2"]})


async def test_queue_config_get_put_delete(base: str, http: aiohttp.ClientSession,
                                           client: AsyncClient, store: Store) -> None:
    url = f"{base}/api/v1/queues/q1/config"
    assert await call(http, "GET", url) == (200, {"queue": "q1"})
    status, body = await call(http, "PUT", url, json={"max_retries": 0, "retry_cap_seconds": 9})
    assert (status, body) == (200, {"queue": "q1", "max_retries": 0, "retry_cap_seconds": 9.0})
    assert (await client.queue_config("q1")).max_retries == 0
    assert "q1" in (await call(http, "GET", f"{base}/api/v1/queues"))[1]["queues"]
    # PUT replaces the whole config: a field left out is unset again
    await call(http, "PUT", url, json={"retry_base_seconds": 0.5})
    assert await call(http, "GET", url) == (200, {"queue": "q1", "retry_base_seconds": 0.5})
    before = await store.revision()
    for bad, message in [({"max_retries": -1}, "max retries"), ({"retries": 1}, "unknown field"),
                         ({"retry_base_seconds": 5, "retry_cap_seconds": 1}, "not be shorter"),
                         ([1], "JSON object")]:
        status, answer = await call(http, "PUT", url, json=bad)
        assert status == 400 and message in answer["error"], answer
    status, answer = await call(http, "PUT", f"{base}/api/v1/queues/a..b/config",
                                json={"max_retries": 1})
    assert status == 400 and "'..'" in answer["error"]
    assert await store.revision() == before
    assert await call(http, "DELETE", url) == (200, {"queue": "q1"})
    assert await call(http, "GET", url) == (200, {"queue": "q1"})


async def test_info_healthz_and_page(base: str, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", f"{base}/api/v1/info")
    assert status == 200 and body["writes"] == "open"
    assert await call(http, "GET", f"{base}/healthz") == (200, {"status": "ok"})
    async with http.get(f"{base}/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "<title>kubetask</title>" in await response.text()
    async with http.get(f"{base}/static/app.js") as response:
        assert response.status == 200 and "EventSource" in await response.text()


async def test_openapi_document_covers_every_route(base: str, http: aiohttp.ClientSession,
                                                   client: AsyncClient) -> None:
    status, doc = await call(http, "GET", f"{base}/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    app = create_app(client, DashboardSettings())
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and not r.resource.canonical.startswith("/static") and r.resource.canonical != "/"}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert documented == served


# --- bad input ----------------------------------------------------------------------------
BIG_PAYLOAD = {"blob": "x" * (MAX_PAYLOAD_BYTES + 1)}

BAD_SUBMITS = [
    pytest.param(b"{not json", "not valid JSON", id="bad-json"),
    pytest.param(b"", "body is empty", id="empty-body"),
    pytest.param(b"[1, 2]", "JSON object", id="not-an-object"),
    pytest.param(b'{"payload": {}}', "type is required", id="missing-type"),
    pytest.param(b'{"type": "echo", "priority": 9}', "invalid priority", id="priority-9"),
    pytest.param(b'{"type": "echo", "priority": "huge"}', "invalid priority", id="priority-word"),
    pytest.param(b'{"type": "echo", "priority": true}', "invalid priority", id="priority-bool"),
    pytest.param(b'{"type": "echo", "name": "a/b"}', "'/'", id="name-slash"),
    pytest.param(b'{"type": "echo", "name": ".."}', "'..'", id="name-dotdot"),
    pytest.param(b'{"type": "echo", "queue": "q/../x"}', "'/'", id="queue-slash"),
    pytest.param(b'{"type": "a\\u0000b"}', "NUL", id="type-nul"),
    pytest.param(orjson.dumps({"type": "echo", "name": "n" * 129}), "limit is 128",
                 id="name-too-long"),
    pytest.param(b'{"type": "echo", "name": 5}', "name must be a string", id="name-number"),
    pytest.param(b'{"type": "echo", "queue": 5}', "queue name", id="queue-number"),
    pytest.param(b'{"type": "echo", "max_retries": -1}', "max retries", id="retries-negative"),
    pytest.param(b'{"type": "echo", "max_retries": "3"}', "max retries", id="retries-string"),
    pytest.param(b'{"type": "echo", "timeout": 0}', "timeout", id="timeout-zero"),
    pytest.param(b'{"type": "echo", "timeout": "1"}', "timeout", id="timeout-string"),
    pytest.param(b'{"type": "echo", "delay": -1}', "delay", id="delay-negative"),
    pytest.param(b'{"type": "echo", "delay": "soon"}', "delay", id="delay-string"),
    pytest.param(b'{"type": "echo", "delay": 1e12}', "delay", id="delay-huge"),
    pytest.param(b'{"type": "echo", "payload": NaN}', "not valid JSON", id="payload-nan"),
    pytest.param(b'{"type": "echo", "color": "red"}', "unknown field(s) color", id="unknown-field"),
    pytest.param(orjson.dumps({"type": "echo", "payload": BIG_PAYLOAD}), "the limit is",
                 id="oversize-payload"),
]


@pytest.mark.parametrize(("body", "message"), BAD_SUBMITS)
async def test_bad_submit_is_400_and_stores_nothing(base: str, http: aiohttp.ClientSession,
                                                    client: AsyncClient, body: bytes,
                                                    message: str) -> None:
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks", data=body,
                                headers={"Content-Type": "application/json"})
    assert status == 400, answer
    assert message in answer["error"]
    assert await client.queues() == []


@pytest.mark.parametrize(("body", "message"), [
    pytest.param({"tasks": []}, "at least one", id="empty"),
    pytest.param({"tasks": "echo"}, '{"tasks"', id="not-a-list"),
    pytest.param({"task": []}, '{"tasks"', id="wrong-key"),
    pytest.param({"tasks": [{"type": "echo"}], "x": 1}, "unknown field(s) x", id="extra"),
    pytest.param({"tasks": [{"type": "echo"}] * 1001}, "at most 1000", id="too-many"),
])
async def test_bad_batch_is_400(base: str, http: aiohttp.ClientSession, body: Any,
                                message: str) -> None:
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks:batch", json=body)
    assert status == 400 and message in answer["error"]


async def test_a_body_over_the_cap_is_413(base: str, http: aiohttp.ClientSession) -> None:
    body = orjson.dumps({"tasks": [{"type": "echo", "payload": "x" * 100_000}] * 90})
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks:batch", data=body)
    assert status == 413 and "too large" in answer["error"]


@pytest.mark.parametrize(("query", "message"), [
    ("state=sleeping", "unknown state"),
    ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=100000", "limit"),
    ("priority=9", "invalid priority"), ("queue=a/b", "'/'"), ("after=..", "'..'"),
    ("colour=red", "unknown query parameter"),
])
async def test_bad_list_query_is_400(base: str, http: aiohttp.ClientSession, query: str,
                                     message: str) -> None:
    status, answer = await call(http, "GET", f"{base}/api/v1/tasks?{query}")
    assert status == 400 and message in answer["error"]


async def test_bad_stats_query_is_400(base: str, http: aiohttp.ClientSession) -> None:
    assert (await call(http, "GET", f"{base}/api/v1/stats?queue=a/b"))[0] == 400
    assert (await call(http, "GET", f"{base}/api/v1/stats?q=1"))[0] == 400


async def test_stats_of_a_queue_never_used_is_404_not_zeros(
        base: str, http: aiohttp.ClientSession, client: AsyncClient) -> None:
    await client.submit("echo", queue="real")
    status, answer = await call(http, "GET", f"{base}/api/v1/stats?queue=rael")
    assert status == 404, answer
    assert answer["error"].startswith("no queue 'rael' in namespace ")
    assert "(queues there: real)" in answer["error"]
    status, answer = await call(http, "GET", f"{base}/api/v1/stats?queue=real")
    assert status == 200 and answer["queues"][0]["pending"] == 1


async def test_stats_of_a_queue_a_scheduler_leads_is_there_before_any_task(
        base: str, http: aiohttp.ClientSession, system: InProcessSystem) -> None:
    """A scheduler just started (no worker, no task yet): its queue is known, with zeros."""
    first = await system.scheduler(queue="fresh")
    await asyncio.wait_for(first.leading.wait(), 10)
    status, answer = await call(http, "GET", f"{base}/api/v1/stats?queue=fresh")
    assert status == 200, answer
    assert (answer["queues"][0]["total"], answer["queues"][0]["leader"]) == (0, "s0")


@pytest.mark.parametrize("route", ["", "/cancel", "/retry"])
async def test_unknown_task_is_404_and_a_key_breaking_id_is_400(
        base: str, http: aiohttp.ClientSession, route: str) -> None:
    method = "GET" if not route else "POST"
    status, answer = await call(http, method, f"{base}/api/v1/tasks/0123456789abcdef01234567{route}")
    assert status == 404 and "no task" in answer["error"]
    status, answer = await call(http, method, f"{base}/api/v1/tasks/-bad{route}")
    assert status == 400 and "must start with a letter or digit" in answer["error"]


async def test_task_routes_take_a_unique_id_prefix(base: str, http: aiohttp.ClientSession,
                                                   client: AsyncClient) -> None:
    one, two = (await client.submit_many([TaskSpec("echo"), TaskSpec("echo")]))
    shared = next(n for n in range(6, 24) if one.id[:n + 1] != two.id[:n + 1])
    status, answer = await call(http, "GET", f"{base}/api/v1/tasks/{two.id[:shared + 1]}")
    assert status == 200 and answer["id"] == two.id
    status, answer = await call(http, "GET", f"{base}/api/v1/tasks/{one.id[:6]}")
    assert status == 400 and f"{one.id}, {two.id}" in answer["error"]
    assert "give more characters" in answer["error"]
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks/{one.id[:6]}/cancel")
    assert status == 400 and (await client.get(one.id)).state is TaskState.PENDING
    status, answer = await call(http, "POST",
                                f"{base}/api/v1/tasks/{one.id[:shared + 1]}/cancel")
    assert status == 200 and answer["id"] == one.id and answer["state"] == "cancelled"
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks/{one.id[:20]}/retry")
    assert status == 409 and "only dead tasks" in answer["error"]
    status, answer = await call(http, "GET", f"{base}/api/v1/tasks/ffffffffff")
    assert status == 404 and "no task id starts with 'ffffffffff'" in answer["error"]
    status, answer = await call(http, "GET", f"{base}/api/v1/tasks/{one.id[:5]}")
    assert status == 400 and "too short" in answer["error"]


async def test_unknown_route_and_method_are_json_errors(base: str,
                                                        http: aiohttp.ClientSession) -> None:
    status, answer = await call(http, "GET", f"{base}/api/v1/nothing")
    assert status == 404 and "openapi.json" in answer["error"]
    status, answer = await call(http, "DELETE", f"{base}/api/v1/tasks")
    assert status == 405 and "not allowed" in answer["error"]


# --- the write guard ------------------------------------------------------------------------
WRITES = [("POST", "/api/v1/tasks", {"type": "echo"}),
          ("POST", "/api/v1/tasks:batch", {"tasks": [{"type": "echo"}]}),
          ("PUT", "/api/v1/queues/default/config", {"max_retries": 1}),
          ("DELETE", "/api/v1/queues/default/config", None)]


async def test_read_only_by_default_refuses_writes_with_403(serve: Serve,
                                                            http: aiohttp.ClientSession,
                                                            client: AsyncClient) -> None:
    base = await serve()
    task = await client.submit("echo")
    for method, path, body in [*WRITES, ("POST", f"/api/v1/tasks/{task.id}/cancel", None)]:
        status, answer = await call(http, method, base + path, json=body)
        assert status == 403 and "read-only" in answer["error"]
    assert (await client.get(task.id)).state is TaskState.PENDING
    assert len(await client.list()) == 1
    assert await client.queue_config("default") == QueueConfig()
    status, _ = await call(http, "GET", f"{base}/api/v1/tasks/{task.id}")
    assert status == 200


async def test_token_allows_writes_only_with_the_bearer(serve: Serve,
                                                        http: aiohttp.ClientSession) -> None:
    base = await serve(token="s3cret")
    for method, path, body in WRITES:
        assert (await call(http, method, base + path, json=body))[0] == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await call(http, method, base + path, json=body, headers=wrong))[0] == 401
        right = {"Authorization": "Bearer s3cret"}
        assert (await call(http, method, base + path, json=body, headers=right))[0] in (200, 201)
    _, info = await call(http, "GET", f"{base}/api/v1/info")
    assert info["writes"] == "token"


async def test_cross_origin_writes_are_refused(base: str, http: aiohttp.ClientSession,
                                               client: AsyncClient) -> None:
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks",
                                data=b'{"type": "echo"}', headers=evil)
    assert status == 403 and "cross-origin" in answer["error"]
    assert await client.queues() == []
    rebound = {"Host": f"evil.example:{base.rsplit(':', 1)[1]}"}  # DNS rebinding
    status, answer = await call(http, "POST", f"{base}/api/v1/tasks", json={"type": "echo"},
                                headers=rebound)
    assert status == 403 and "cross-origin" in answer["error"]
    assert await client.queues() == []
    own = {"Origin": base}
    assert (await call(http, "POST", f"{base}/api/v1/tasks", json={"type": "echo"},
                       headers=own))[0] == 201


# --- live events ------------------------------------------------------------------------------
async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    event = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, orjson.loads(line[6:])


async def test_events_stream_stats_and_task_changes(base: str, http: aiohttp.ClientSession,
                                                    client: AsyncClient) -> None:
    async with http.get(f"{base}/api/v1/events") as response:
        assert response.content_type == "text/event-stream"
        events = read_events(response)
        async with asyncio.timeout(15):
            name, hello = await anext(events)  # sent once task changes are followed
            assert name == "hello" and hello["namespace"] == client.namespace
            task = await client.submit("echo", queue="live")
            states: dict[str, str] = {}
            stats_seen = False
            async for name, data in events:
                if name == "tasks":
                    states.update({t["id"]: t["state"] for t in data["tasks"]})
                elif name == "stats" and task.id in states:
                    stats_seen = any(q["queue"] == "live" and q["pending"] == 1
                                     for q in data["queues"])
                if states.get(task.id) == "pending" and stats_seen:
                    break
            await client.cancel(task.id)
            async for name, data in events:
                if name == "tasks" and any(t["id"] == task.id and t["state"] == "cancelled"
                                           for t in data["tasks"]):
                    break


# --- fuzzing ---------------------------------------------------------------------------------
def fuzz(base: str) -> list[str]:
    """Schemathesis against the live server: generated valid and invalid requests for
    every operation (but the endless event stream); returns the failures."""
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    schema = schema.exclude(path="/api/v1/events")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    failures: list[str] = []
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        @hypothesis.settings(max_examples=120, deadline=None, database=None,
                             derandomize=True, phases=[hypothesis.Phase.generate],
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=schema.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, timeout=10)
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, FailureGroup) as exc:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {exc}"[:500])

        check()
    return failures


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_fuzzing_the_openapi_document_finds_no_server_error(base: str) -> None:
    failures = await asyncio.to_thread(fuzz, base)
    assert failures == []
