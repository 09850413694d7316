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
from kubetask.errors import Compacted, KubetaskError, StoreError
from kubetask.wakeup import wait_until_set
from kubetask.web.views import stats_body, task_summary

log = logging.getLogger(__name__)

Frame = bytes
KEEPALIVE_SECONDS = 15.0
FLUSH_SECONDS = 0.25  # task changes are coalesced (last state per task) this long
BACKLOG = 64  # frames a listener may fall behind before its oldest are dropped


def frame(event: str, data: Any) -> Frame:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventHub:
    """Stats every `interval` seconds and coalesced task changes, for all listeners."""

    def __init__(self, client: AsyncClient, interval: float = 1.0) -> None:
        self.client = client
        self.interval = interval
        self._listeners: set[asyncio.Queue[Frame | None]] = set()
        self._listening = asyncio.Event()
        self._changes: dict[str, dict[str, Any]] = {}
        self._feed: TaskFeed | None = None
        self._last_stats: Frame | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.watching = asyncio.Event()  # set while task changes are being followed

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(loop(), name=f"events-{loop.__name__}")
                       for loop in (self._stats_loop, self._watch_loop, self._flush_loop)]

    async def stop(self) -> None:
        self.close_listeners()
        if self._feed is not None:
            self._feed.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

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
        while True:
            await self._listening.wait()
            try:
                self._feed = await self.client.task_changes()
                if not self._listeners:
                    continue  # the last listener left while the feed opened
                self.watching.set()
                async for batch in self._feed:
                    for task in batch:
                        self._changes[task.id] = task_summary(task)
            except Compacted:
                self.publish(frame("resync", {}))  # history is gone: listeners re-read
            except StoreError as exc:
                log.warning("event stream: task watch failed (%s); retrying", exc)
                self.publish(frame("problem", {"error": f"task watch failed: {exc}"}))
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("event stream: task watch failed; retrying")
                await asyncio.sleep(1.0)
            finally:
                self.watching.clear()
                if self._feed is not None:
                    self._feed.close()
                    self._feed = None

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
