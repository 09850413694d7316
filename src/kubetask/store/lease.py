"""A lease kept alive in the background, and told apart from a lease that is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import StoreError
from kubetask.model.backoff import Backoff
from kubetask.store.client import Store
from kubetask.trouble import Trouble
from kubetask.wakeup import cancel_and_wait

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Grants a lease of `ttl` seconds and refreshes it every ttl/3.

    `lost` is set when etcd says the lease no longer exists, or when no refresh succeeded
    for a whole TTL (then the lease has expired on the server too, or is about to: either
    way, anything attached to it must be treated as gone).
    """

    def __init__(self, store: Store, ttl: int, *, name: str = "lease") -> None:
        self._store = store
        self.ttl = max(int(ttl), 2)
        self.name = name
        self.id = 0
        self.lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._revoked = False
        self.last_refresh = 0.0

    async def start(self) -> int:
        self.id = await self._store.grant(self.ttl)
        self._revoked = False
        self.last_refresh = time.monotonic()
        self.lost.clear()
        self._task = asyncio.create_task(self._run(), name=f"keepalive-{self.name}")
        return self.id

    async def stop(self, *, revoke: bool = True) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)  # _run catches what keepalive raises
            self._task = None
        if revoke and self.id and not self.lost.is_set() and not self._revoked:
            # Once only: a second revoke of the same lease (a worker's drain, then its
            # session's end) makes etcd log a "lease not found" warning.
            self._revoked = True
            with contextlib.suppress(StoreError):
                await self._store.revoke(self.id)

    def _mark_lost(self, why: str) -> None:
        if not self.lost.is_set():
            log.error("%s %x lost: %s", self.name, self.id, why)
            self.lost.set()

    async def _run(self) -> None:
        try:
            await self._keep_alive()
        except Exception as exc:
            # A keeper that died silently would leave `lost` unset forever: its owner would
            # go on as if it still held the lease (a zombie that never re-registers).
            self._mark_lost(f"keepalive stopped ({type(exc).__name__}: {exc})")

    async def _keep_alive(self) -> None:
        interval = self.ttl / 3
        # Retries stay well within the TTL: the lease must be refreshed before it expires.
        cap = min(0.5, interval / 2)
        backoff = Backoff(first=min(0.1, cap), cap=cap)
        trouble = Trouble()  # keepalive tries failed since the last refresh
        while not self.lost.is_set():
            metadata = await self._store.call_metadata()  # the auth token, if any
            call: Any = self._store.lease_stub.LeaseKeepAlive(metadata=metadata)
            try:
                while not self.lost.is_set():
                    await call.write(pb.LeaseKeepAliveRequest(ID=self.id))
                    async with asyncio.timeout(interval):
                        response = await call.read()
                    if response is grpc.aio.EOF:
                        raise ConnectionError("keepalive stream closed")
                    if response.TTL <= 0:
                        self._mark_lost("etcd reports it expired")
                        return
                    self.last_refresh = time.monotonic()
                    recovery = trouble.recovered()
                    if recovery is not None:
                        log.info("%s %x: keepalive works again after %.1fs (%d failed "
                                 "tries)", self.name, self.id, recovery.seconds,
                                 recovery.failures)
                    backoff.reset()
                    await asyncio.sleep(interval)
            except (grpc.aio.AioRpcError, ConnectionError, TimeoutError,
                    asyncio.InvalidStateError) as exc:  # write on a stream that already failed
                silent = time.monotonic() - self.last_refresh
                if silent > self.ttl:
                    self._mark_lost(f"no refresh for {silent:.1f}s (> TTL {self.ttl}s)")
                    return
                delay = backoff.next()
                log.log(trouble.failed("keepalive"),  # once per outage, whatever the error
                        "%s %x: keepalive failed (%s); retrying in %.2fs (the lease expires "
                        "%.1fs after its last refresh)", self.name, self.id,
                        type(exc).__name__, delay, self.ttl)
                await asyncio.sleep(delay)
            finally:
                call.cancel()
