"""Key injection on a real etcd: names that could reach outside their own keys (`/`, `..`,
NUL, line breaks, unicode lookalikes, 4 KiB long) are refused before anything is written,
through the SDK and the HTTP API; and a queue or namespace whose name is another's prefix
(`a` vs `a1`) never reads or changes the other's data (stats, list, get, cancel, config)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from kubetask.client import AsyncClient
from kubetask.errors import TaskNotFound, ValidationError
from kubetask.etcd_process import EtcdProcess
from kubetask.model import TaskState
from kubetask.store import Store
from kubetask.web.settings import DashboardSettings
from tests.harness import running_dashboard

pytestmark = pytest.mark.etcd

BAD_NAMES = [
    "a/b", "/abs", "../up", "a/../b", "..", "a..b", ".", "a\x00b", "a\nb", "abc\n",
    "\uff41bc",  # fullwidth a
    "\u0430bc",  # Cyrillic a
    "a\u2215b",  # division slash
    "a\uff0fb",  # fullwidth solidus
    "a\u200bb",  # zero-width space
    "x" * 4096, "", " a",
]
IDS = [repr(n)[:24] for n in BAD_NAMES]


def attempts(client: AsyncClient, name: str) -> list[Callable[[], Awaitable[Any]]]:
    """Every SDK call that puts `name` into a key."""
    return [
        lambda: client.submit("echo", queue=name),
        lambda: client.submit(name),
        lambda: client.submit("echo", name=name),
        lambda: client.submit("echo", key=name),
        lambda: client.configure_queue(name, max_retries=1),
        lambda: client.reset_queue_config(name),
        lambda: client.drain_worker("default", name),
        lambda: client.drain_worker(name, "w1"),
        lambda: client.get(name),
        lambda: client.get_many(["0" * 24, name]),
        lambda: client.cancel(name),
        lambda: client.retry(name),
        lambda: client.get_by_key(name),
        lambda: client.get_by_key("k", queue=name),
        lambda: client.list(queue=name),
        lambda: client.stats(name),
    ]


@pytest.mark.parametrize("name", BAD_NAMES, ids=IDS)
async def test_key_breaking_names_are_refused_and_write_nothing(
        name: str, client: AsyncClient, store: Store, etcd: EtcdProcess) -> None:
    before = await store.revision()
    for number, call in enumerate(attempts(client, name)):
        try:
            await call()
        except ValidationError:
            continue
        pytest.fail(f"call {number} of attempts() took {name!r}")
    with pytest.raises(ValidationError, match="namespace name"):
        AsyncClient(etcd.endpoint, namespace=name)
    assert await store.revision() == before


@pytest.fixture
async def base(client: AsyncClient) -> AsyncIterator[str]:
    settings = DashboardSettings(namespace=client.namespace, port=0, allow_writes=True)
    async with running_dashboard(client, settings) as url:
        yield url


async def test_http_refuses_key_breaking_names_and_writes_nothing(
        base: str, store: Store) -> None:
    before = await store.revision()
    async with aiohttp.ClientSession() as http:
        for name in BAD_NAMES:
            for field in ("queue", "type", "name", "key"):
                body = orjson.dumps({"type": "echo", field: name})
                async with http.post(f"{base}/api/v1/tasks", data=body) as response:
                    assert response.status == 400, (field, name)
            for path in ("a%2Fb", "..", "a%00b", "%EF%BD%81bc", "x" * 4096):
                async with http.put(f"{base}/api/v1/queues/{path}/config",
                                    data=b'{"max_retries": 1}') as response:
                    assert response.status in (400, 404), path
    assert await store.revision() == before


async def test_a_prefix_named_queue_or_namespace_sees_only_its_own(
        client: AsyncClient, etcd: EtcdProcess) -> None:
    async with AsyncClient(etcd.endpoint, namespace=client.namespace + "1") as other:
        mine = [await client.submit("echo", queue="a") for _ in range(2)]
        longer = [await client.submit("echo", queue="a1") for _ in range(3)]
        dotted = await client.submit("echo", queue="a.b")
        await client.configure_queue("a1", max_retries=7)
        theirs = [await other.submit("echo", queue="a") for _ in range(4)]

        (stats,) = await client.stats("a")
        assert stats.counts.queue == "a" and sum(stats.counts.pending_by_priority.values()) == 2
        assert (await client.queue_config("a")).max_retries is None
        assert {t.id for t in await client.list(queue="a")} == {t.id for t in mine}
        assert {t.id for t in await client.list(queue="a1")} == {t.id for t in longer}
        assert {t.id for t in await client.list()} == {t.id for t in [*mine, *longer, dotted]}
        assert sorted(await client.queues()) == ["a", "a.b", "a1"]
        assert await other.queues() == ["a"]
        (their_stats,) = await other.stats("a")
        assert sum(their_stats.counts.pending_by_priority.values()) == 4

        for task in theirs:  # another namespace's task: not found, by id or by prefix
            for ref in (task.id, task.id[:12]):
                with pytest.raises(TaskNotFound):
                    await client.get(ref)
                with pytest.raises(TaskNotFound):
                    await client.cancel(ref)
        assert all(t.state is TaskState.PENDING for t in await other.list())
        await client.cancel(mine[0].id)
        assert [t.state for t in await client.list(queue="a1")] == [TaskState.PENDING] * 3
        assert (await other.queue_config("a1")).max_retries is None
