"""Watches that survive reconnects: resume after the last revision seen, never from "now".

On compaction the watch cannot resume: it raises `Compacted`, or, given a `relist`, lists
again and resumes from the list's revision + 1 (research: reliability.md §c.4; the list
side is store/listwatch.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import Compacted, StoreError
from kubetask.model.backoff import Backoff
from kubetask.store.client import Store
from kubetask.store.keys import prefix_end
from kubetask.store.ops import KeyValue, decode_kv
from kubetask.trouble import Trouble
from kubetask.wakeup import wait_until_set

log = logging.getLogger(__name__)

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED)

RECONNECT_CAP = 2.0  # seconds: the longest wait between reconnects of a lost watch


class _StaleToken(Exception):
    """etcd cancelled a watch because its auth token was no longer good."""


@dataclass(frozen=True, slots=True)
class Event:
    put: bool  # False: delete
    kv: KeyValue
    prev: KeyValue | None

    @property
    def key(self) -> str:
        return self.kv.key


class Watch:
    """Event batches (one etcd revision never split) for a key or prefix from `start_revision`.

    With `relist` (read the state again, return the revision read at), a compaction does not
    end the watch: it relists and resumes after that revision; and a `start_revision` of 0
    means "list first".
    """

    def __init__(self, store: Store, key: str, *, start_revision: int, prefix: bool = True,
                 prev_kv: bool = False, puts_only: bool = False, deletes_only: bool = False,
                 relist: Callable[[], Awaitable[int]] | None = None) -> None:
        if start_revision < (0 if relist else 1):
            raise ValueError("a watch needs an explicit start revision (list first)")
        if puts_only and deletes_only:
            raise ValueError("puts_only and deletes_only exclude each other (that watch would "
                             "see nothing)")
        self._relist = relist
        self._store = store
        self._key = key
        self._prefix = prefix
        self._prev_kv = prev_kv
        self._filters = [pb.WatchCreateRequest.NOPUT] if deletes_only else (
            [pb.WatchCreateRequest.NODELETE] if puts_only else [])
        self.next_revision = start_revision
        self._closed = asyncio.Event()
        self._call: Any = None
        self.reconnects = 0
        self._trouble = Trouble()  # the stream lost, until etcd answers again
        # True while etcd has confirmed the watch and its stream has not failed since (for
        # a readiness check: a lost stream is being reconnected, events may be late).
        self.open = False

    def close(self) -> None:
        """End the iteration, from any task (the open call is cancelled)."""
        self._closed.set()
        if self._call is not None:
            self._call.cancel()

    async def _requests(self) -> AsyncIterator[Any]:
        create = pb.WatchCreateRequest(key=self._key.encode(), start_revision=self.next_revision,
                                       prev_kv=self._prev_kv, progress_notify=True,
                                       filters=self._filters)
        if self._prefix:
            create.range_end = prefix_end(self._key).encode()
        yield pb.WatchRequest(create_request=create)
        await self._closed.wait()  # keep the stream open until closed

    def _batch(self, response: Any) -> list[Event] | None:
        """Events of one response (None for a response without events)."""
        if response.compact_revision:
            raise Compacted(int(response.compact_revision))
        if response.canceled and self._store.forget_stale_token(response.cancel_reason):
            # etcd checks the token when the watch is created: a stale one (expired while
            # nothing else was sent) cancels it. Reconnect with a fresh token.
            raise _StaleToken(response.cancel_reason)
        if response.canceled:
            raise StoreError(f"etcd cancelled the watch on {self._key}: {response.cancel_reason}")
        if not response.events:
            if not response.created and response.header.revision >= self.next_revision:
                # Progress notification: everything up to this revision was sent.
                self.next_revision = response.header.revision + 1
            return None
        batch = [Event(e.type == 0, decode_kv(e.kv), decode_kv(e.prev_kv) if e.HasField("prev_kv") else None)
                 for e in response.events]
        self.next_revision = batch[-1].kv.mod_revision + 1
        return batch

    async def __aiter__(self) -> AsyncIterator[list[Event]]:
        backoff: Backoff | None = None  # made on a reconnect, dropped on the next batch
        if self.next_revision == 0 and self._relist is not None:
            self.next_revision = await self._relist() + 1
        while not self._closed.is_set():
            metadata = await self._store.call_metadata()  # the auth token, if any
            self._call = call = self._store.watch_stub.Watch(self._requests(), metadata=metadata)
            delay = 0.0
            try:
                async for response in call:
                    self._opened()
                    batch = self._batch(response)
                    if batch:
                        backoff = None
                        yield batch
            except (Compacted, _StaleToken) as exc:
                call.cancel()
                backoff = backoff or Backoff(first=0.1, cap=RECONNECT_CAP)
                delay = await self._restart(exc, backoff)
            except grpc.aio.AioRpcError as exc:
                backoff = backoff or Backoff(first=0.1, cap=RECONNECT_CAP)
                delay = self._lost(exc, backoff)
            except asyncio.CancelledError:
                if not self._closed_meanwhile():
                    raise
            finally:
                self.open = False
                call.cancel()
            if delay:
                await wait_until_set(self._closed, delay)

    async def _restart(self, exc: Compacted | _StaleToken, backoff: Backoff) -> float:
        """After etcd cancelled the watch: the delay before it is opened again."""
        if isinstance(exc, Compacted):
            await self._resume_after(exc)
            return 0.0
        log.info("watch on %s: %s; authenticating again", self._key, exc)
        return backoff.next()

    async def _resume_after(self, exc: Compacted) -> None:
        if self._relist is None:
            raise exc
        log.warning("watch on %s: %s; re-listing", self._key, exc)
        self.next_revision = await self._relist() + 1

    def _closed_meanwhile(self) -> bool:
        """True when close() cancelled the call (not someone cancelling our task)."""
        task = asyncio.current_task()
        return self._closed.is_set() and (task is None or not task.cancelling())

    def _lost(self, exc: grpc.aio.AioRpcError, backoff: Backoff) -> float:
        """The delay before reconnecting (0: closed meanwhile); raises on a lasting error."""
        if self._closed.is_set():
            return 0.0
        if exc.code() not in _RETRYABLE and not self._store.forget_stale_token(exc):
            raise StoreError(f"watch on {self._key} failed: {exc.details()}") from exc
        self.reconnects += 1
        delay = backoff.next()
        # Once per outage: the reconnects that follow are at debug, and the resume says how
        # long it took (an etcd away for 20 s made 20 warnings per watch before).
        if self._trouble.failed("lost") == logging.WARNING:  # whatever the code
            log.warning("watch on %s lost (%s); resuming from revision %d, retrying every "
                        "%gs at most", self._key, exc.code().name, self.next_revision,
                        RECONNECT_CAP)
        else:
            log.debug("watch on %s: reconnect failed (%s); next try in %.1fs", self._key,
                      exc.code().name, delay)
        return delay

    def _opened(self) -> None:
        """etcd answered on the stream: it is open (again)."""
        self.open = True
        recovery = self._trouble.recovered()
        if recovery is not None:
            log.info("watch on %s resumed at revision %d after %.1fs (%d failed tries)",
                     self._key, self.next_revision, recovery.seconds, recovery.failures)
