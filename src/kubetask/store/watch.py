"""Watches that survive reconnects: resume after the last revision seen, never from "now".

On compaction the watch cannot resume; it raises `Compacted` and the caller re-lists,
then watches again from the list's revision + 1 (research: reliability.md §c.4).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import Compacted, StoreError
from kubetask.store.client import KeyValue, Store, _kv
from kubetask.store.keys import prefix_end
from kubetask.wakeup import wait_until_set

log = logging.getLogger(__name__)

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED)


@dataclass(frozen=True, slots=True)
class Event:
    put: bool  # False: delete
    kv: KeyValue
    prev: KeyValue | None

    @property
    def key(self) -> str:
        return self.kv.key


class Watch:
    """Event batches (one etcd revision never split) for a key or prefix from `start_revision`."""

    def __init__(self, store: Store, key: str, *, start_revision: int, prefix: bool = True,
                 prev_kv: bool = False, puts_only: bool = False, deletes_only: bool = False
                 ) -> None:
        if start_revision < 1:
            raise ValueError("a watch needs an explicit start revision (list first)")
        self._store = store
        self._key = key
        self._prefix = prefix
        self._prev_kv = prev_kv
        self._filters = [pb.WatchCreateRequest.NOPUT] if deletes_only else (
            [pb.WatchCreateRequest.NODELETE] if puts_only else [])
        self.next_revision = start_revision
        self._closed = asyncio.Event()
        self.reconnects = 0

    def close(self) -> None:
        self._closed.set()

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
        if response.canceled:
            raise StoreError(f"etcd cancelled the watch on {self._key}: {response.cancel_reason}")
        if not response.events:
            if not response.created and response.header.revision >= self.next_revision:
                # Progress notification: everything up to this revision was sent.
                self.next_revision = response.header.revision + 1
            return None
        batch = [Event(e.type == 0, _kv(e.kv), _kv(e.prev_kv) if e.HasField("prev_kv") else None)
                 for e in response.events]
        self.next_revision = batch[-1].kv.mod_revision + 1
        return batch

    async def __aiter__(self) -> AsyncIterator[list[Event]]:
        delay = 0.1
        while not self._closed.is_set():
            call = self._store.watch_stub.Watch(self._requests())
            try:
                async for response in call:
                    batch = self._batch(response)
                    if batch:
                        delay = 0.1
                        yield batch
                if self._closed.is_set():
                    return
            except grpc.aio.AioRpcError as exc:
                if self._closed.is_set():
                    return
                if exc.code() not in _RETRYABLE:
                    raise StoreError(f"watch on {self._key} failed: {exc.details()}") from exc
                self.reconnects += 1
                log.warning("watch on %s lost (%s); resuming from revision %d in %.1fs",
                            self._key, exc.code().name, self.next_revision, delay)
            finally:
                call.cancel()
            await wait_until_set(self._closed, delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
