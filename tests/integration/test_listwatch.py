"""List-then-watch on a real etcd across a forced compaction: the consumer re-lists and
converges (the helper itself, a wait on tasks, a feed of task changes)."""

from __future__ import annotations

import asyncio
import logging
import urllib.request

import pytest

from kubetask.client import AsyncClient
from kubetask.etcd_process import EtcdProcess
from kubetask.model import TaskState
from kubetask.store import Event, Keyspace, ListWatch, RangeResult, Store
from kubetask.store.watch import Watch
from tests.faults.proxy import Proxy

pytestmark = pytest.mark.etcd


class Mirror:
    """What a consumer builds from a ListWatch: key -> value, as the contract asks."""

    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.listings = 0

    def on_list(self, result: RangeResult) -> None:
        self.state = {kv.key: kv.value for kv in result.kvs}  # replaces: drops what vanished
        self.listings += 1

    def on_events(self, batch: list[Event]) -> None:
        for event in batch:
            if event.put:
                self.state[event.key] = event.kv.value
            else:
                self.state.pop(event.key, None)


async def until(condition: object, what: str, timeout: float = 15) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_list_watch_relists_after_a_compaction_and_drops_what_vanished(
        store: Store, keys: Keyspace) -> None:
    prefix = keys.tasks()
    for name in "abc":
        await store.put(prefix + name, b"1")
    mirror = Mirror()
    follow = ListWatch(store, prefix, on_list=mirror.on_list)
    listed = await follow.list()
    # Changes the watch has not seen, then their history compacted away: the watch from
    # the listing's revision + 1 cannot resume.
    await store.put(prefix + "d", b"1")
    await store.delete(prefix + "b")
    await store.put(prefix + "a", b"2")
    await store.compact(await store.revision())
    runner = asyncio.create_task(follow.run(mirror.on_events))
    try:
        async def converged() -> bool:
            return mirror.state == {prefix + "a": b"2", prefix + "c": b"1", prefix + "d": b"1"}
        await until(converged, "the mirror to converge after the compaction")
        await store.put(prefix + "e", b"1")  # and it goes on watching

        async def followed() -> bool:
            return prefix + "e" in mirror.state
        await until(followed, "a change after the re-list")
    finally:
        follow.close()
        await asyncio.wait_for(runner, 10)
    assert (follow.relists, mirror.listings) == (1, 2)
    assert listed.revision < await store.revision()


async def test_task_feed_with_resync_survives_a_compaction(client: AsyncClient,
                                                           store: Store) -> None:
    old = await store.revision()
    first = await client.submit("echo")
    await client.submit("echo")  # two revisions: the one after `old` is compacted away
    await store.compact(await store.revision())
    resyncs: list[int] = []
    feed = await client.task_changes(after_revision=old, resync=lambda: resyncs.append(1))

    async def read() -> list[str]:
        async for batch in feed:
            return [t.id for t in batch]
        return []
    reader = asyncio.create_task(read())
    try:
        async def resynced() -> bool:
            return bool(resyncs)
        await until(resynced, "the feed to call resync")
        second = await client.submit("echo")
        assert await asyncio.wait_for(reader, 10) == [second.id]  # `first` was resynced
    finally:
        feed.close()
    assert first.id != second.id and resyncs == [1]


def _watchers(etcd: EtcdProcess) -> int:
    with urllib.request.urlopen(f"http://{etcd.endpoint}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("etcd_debugging_mvcc_watcher_total "):
                return int(float(line.split()[1]))
    raise AssertionError("etcd reports no watcher count")


async def test_wait_survives_a_compaction_of_the_history_it_follows(
        etcd: EtcdProcess, namespace: str, client: AsyncClient, store: Store) -> None:
    """The waiter's link to etcd breaks; meanwhile the task ends and etcd compacts that
    history: the watch cannot resume, so wait() reads the task again instead of failing."""
    task = await client.submit("echo")  # no worker: it stays pending until cancelled
    proxy = Proxy(etcd.client_port)
    try:
        async with AsyncClient(proxy.endpoint, namespace=namespace) as waiter_client:
            before = await asyncio.to_thread(_watchers, etcd)
            waiter = asyncio.create_task(waiter_client.wait([task.id], timeout=60))

            async def watching() -> bool:
                return await asyncio.to_thread(_watchers, etcd) > before
            await until(watching, "wait() to watch the task")
            proxy.cut()
            await client.cancel(task.id)
            await client.submit("echo")  # the cancel's revision is compacted away too
            await store.compact(await store.revision())
            proxy.restore()
            done = await asyncio.wait_for(waiter, 30)
    finally:
        proxy.close()
    assert [t.state for t in done] == [TaskState.CANCELLED]


async def test_a_watch_cut_off_warns_once_and_says_when_it_resumed(
        etcd: EtcdProcess, namespace: str, store: Store, caplog: pytest.LogCaptureFixture
        ) -> None:
    """etcd unreachable for 3 s: one WARNING for the loss (the reconnects that fail meanwhile
    at debug), one INFO when the watch is back, and no event missed."""
    caplog.set_level(logging.DEBUG, logger="kubetask.store.watch")
    proxy = Proxy(etcd.client_port)
    key = f"/{namespace}/outage/"
    seen: list[str] = []
    try:
        cut_off = Store([proxy.endpoint], timeout=2)
        await cut_off.start()
        watch = Watch(cut_off, key, start_revision=await store.revision() + 1)

        async def follow() -> None:
            async for batch in watch:
                seen.extend(e.key for e in batch)
        follower = asyncio.create_task(follow())
        await store.put(f"{key}before", b"")

        async def saw(n: int) -> bool:
            return len(seen) >= n
        await until(lambda: saw(1), "the first event")
        proxy.cut()
        await store.put(f"{key}during", b"")  # missed while cut off; delivered on resume
        await asyncio.sleep(3)
        proxy.restore()
        await until(lambda: saw(2), "the event written during the outage", timeout=20)
        watch.close()
        await asyncio.wait_for(follower, 10)
        await cut_off.stop()
    finally:
        proxy.close()
    assert seen == [f"{key}before", f"{key}during"]
    records = [r for r in caplog.records if r.name == "kubetask.store.watch"]
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    retries = [r for r in records if r.levelno == logging.DEBUG and "reconnect failed" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"watch on {key} lost ("), warnings
    assert len(infos) == 1 and infos[0].startswith(f"watch on {key} resumed at revision "), infos
    assert retries  # 3 s cut off: several tries, all quiet
