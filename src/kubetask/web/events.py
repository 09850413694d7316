"""Live updates: one stats poller and one task watch per server, fanned out to every
server-sent-events stream (`GET /api/v1/events`).

Both loops run only while someone listens, so an idle dashboard costs etcd nothing.
Frames are encoded once and shared; a slow listener loses its oldest frames, never
slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from aiohttp import web

from kubetask.client import AsyncClient
from kubetask.client.feed import TaskFeed
from kubetask.errors import KubetaskError, StoreError
from kubetask.model import Backoff
from kubetask.service import BackgroundService
from kubetask.wakeup import wait_until_set
from kubetask.web.views import stats_body, task_summary

log = logging.getLogger(__name__)

Frame = bytes
KEEPALIVE_SECONDS = 15.0
FLUSH_SECONDS = 0.25  # task changes are coalesced (last state per task) this long
BACKLOG = 64  # frames a listener may fall behind before its oldest are dropped


def frame(event: str, data: Any) -> Frame:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventHub(BackgroundService):
    """Stats every `interval` seconds and coalesced task changes, for all listeners."""

    def __init__(self, client: AsyncClient, interval: float = 1.0) -> None:
        self.client = client
        self.interval = interval
        self._listeners: set[asyncio.Queue[Frame | None]] = set()
        self._listening = asyncio.Event()
        self._changes: dict[str, dict[str, Any]] = {}
        self._feed: TaskFeed | None = None
        self._last_stats: Frame | None = None
        self.watching = asyncio.Event()  # set while task changes are being followed

    # --- lifecycle -------------------------------------------------------------------
    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for loop in (self._stats_loop, self._watch_loop, self._flush_loop):
                group.create_task(loop(), name=f"events-{loop.__name__}")

    async def stop(self) -> None:
        self.close_listeners()
        if self._feed is not None:
            self._feed.close()
        await super().stop()

    # --- listeners -------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[Frame | None]:
        queue: asyncio.Queue[Frame | None] = asyncio.Queue(BACKLOG)
        if self._last_stats is not None:
            queue.put_nowait(self._last_stats)
        self._listeners.add(queue)
        self._listening.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Frame | None]) -> None:
        self._listeners.discard(queue)
        if not self._listeners:
            self._listening.clear()
            if self._feed is not None:
                self._feed.close()

    def close_listeners(self) -> None:
        """End every stream (server shutdown): each gets a final None."""
        for queue in list(self._listeners):
            self._offer(queue, None)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, data: Frame) -> None:
        for queue in list(self._listeners):
            self._offer(queue, data)

    @staticmethod
    def _offer(queue: asyncio.Queue[Frame | None], data: Frame | None) -> None:
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(data)

    # --- loops ---------------------------------------------------------------------
    async def _stats_loop(self) -> None:
        while True:
            await self._listening.wait()
            started = time.monotonic()
            try:
                async with asyncio.timeout(max(self.interval * 5, 5.0)):
                    stats = await self.client.stats()
                self._last_stats = frame("stats", stats_body(self.client.namespace, stats))
                self.publish(self._last_stats)
            except (KubetaskError, TimeoutError) as exc:
                reason = str(exc) or "no answer in time"
                self.publish(frame("problem", {"error": f"cannot read stats from etcd: {reason}"}))
            except Exception:
                log.exception("event stream: stats snapshot failed")
            await asyncio.sleep(max(self.interval - (time.monotonic() - started), 0.05))

    async def _watch_loop(self) -> None:
        backoff = Backoff(first=0.5, cap=5.0)
        while True:
            await self._listening.wait()
            try:
                # A compaction does not end the feed: listeners are told to read again.
                self._feed = await self.client.task_changes(resync=self._resync)
                if not self._listeners:
                    continue  # the last listener left while the feed opened
                self.watching.set()
                async for batch in self._feed:
                    backoff.reset()
                    for task in batch:
                        self._changes[task.id] = task_summary(task)
            except StoreError as exc:
                delay = backoff.next()
                log.warning("event stream: task watch failed (%s); retrying in %.1fs", exc, delay)
                self.publish(frame("problem", {"error": f"task watch failed: {exc}"}))
                await asyncio.sleep(delay)
            except Exception:
                delay = backoff.next()
                log.exception("event stream: task watch failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
            finally:
                self.watching.clear()
                if self._feed is not None:
                    self._feed.close()
                    self._feed = None

    def _resync(self) -> None:
        self.publish(frame("resync", {}))  # history is gone: listeners read again

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if self._changes:
                changes, self._changes = self._changes, {}
                if self._listeners:
                    self.publish(frame("tasks", {"tasks": list(changes.values())}))


async def stream(request: web.Request, hub: EventHub, hello: dict[str, Any]) -> web.StreamResponse:
    """An SSE response that lasts until the client goes or the server stops."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        # `hello` once changes are followed: a client that lists after it misses nothing.
        await wait_until_set(hub.watching, 5.0)
        await response.write(b"retry: 2000\n\n" + frame("hello", hello))
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    data = await queue.get()
            except TimeoutError:
                data = b": keep-alive\n\n"
            if data is None:
                break
            await response.write(data)
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        hub.unsubscribe(queue)
    return response
