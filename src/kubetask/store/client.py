"""The etcd connection: KV reads and writes, transactions, leases, compaction.

This module and its siblings are the only code that imports the etcd client (the gRPC
stubs generated for etcd's v3 API, shipped by the `etcd3aio` package). Everything above
the store sees plain dataclasses and kubetask errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import LeaseLost, StoreError, StoreUnavailable, TransactionTooLarge
from kubetask.model.backoff import Backoff
from kubetask.service import Lifecycle
from kubetask.store.keys import prefix_end
from kubetask.store.limits import batches, check_txn
from kubetask.store.ops import (
    Compare,
    Get,
    KeyValue,
    Op,
    RangeResult,
    TxnResult,
    add_compares,
    add_ops,
    decode_kv,
    range_request,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_GRPC_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def channel_target(endpoints: Sequence[str]) -> str:
    """A gRPC target over all endpoints (names resolved now), balanced round robin."""
    addresses: list[str] = []
    for endpoint in endpoints:
        endpoint = endpoint.strip().removeprefix("http://").removeprefix("https://")
        if not endpoint:
            continue
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise StoreError(f"etcd endpoint {endpoint!r} must look like host:port")
        try:
            infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise StoreUnavailable(f"cannot resolve etcd endpoint {endpoint!r}: {exc}") from exc
        address = f"{infos[0][4][0]}:{port}"
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise StoreError("no etcd endpoints given")
    return "ipv4:" + ",".join(addresses)


class Store(Lifecycle):
    """An asyncio connection to an etcd cluster.

    Reads retry on unavailability until `timeout`. Writes are never retried blindly here:
    every kubetask write is a compare-and-swap, so its caller retries and, when the first
    try's outcome was unknown, reads back what happened (DESIGN.md §2.3).
    """

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0,
                 connect_timeout: float | None = None) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        # When set, start() fails fast unless a connection is up within it (one-shot CLI
        # commands); unset, the first call waits for etcd up to `timeout` (and retries).
        self.connect_timeout = connect_timeout
        self._target = channel_target(self.endpoints)
        self._channel: grpc.aio.Channel | None = None
        self.decode_kv: Any = None
        self._lease: Any = None
        self._watch: Any = None
        self._maintenance: Any = None

    # --- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._channel is not None:
            return
        self._channel = grpc.aio.insecure_channel(self._target, options=_GRPC_OPTIONS)
        self.decode_kv = pb.KVStub(self._channel)
        self._lease = pb.LeaseStub(self._channel)
        self._watch = pb.WatchStub(self._channel)
        self._maintenance = pb.MaintenanceStub(self._channel)
        if self.connect_timeout is not None:
            await self._wait_connected(self.connect_timeout)

    async def _wait_connected(self, timeout: float) -> None:
        assert self._channel is not None
        try:
            async with asyncio.timeout(timeout):
                await self._channel.channel_ready()
        except TimeoutError:
            await self.stop()
            raise StoreUnavailable(
                f"no connection within {timeout:g}s to {', '.join(self.endpoints)}; "
                "is etcd running there?") from None

    async def stop(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def watch_stub(self) -> Any:
        return self._watch

    @property
    def lease_stub(self) -> Any:
        return self._lease

    # --- calls -----------------------------------------------------------------
    async def _call(self, method: Callable[..., Awaitable[T]], request: Any, *, what: str,
                    retry: bool, timeout: float | None = None) -> T:
        deadline = asyncio.get_running_loop().time() + (timeout or self.timeout)
        backoff: Backoff | None = None  # made on the first failure: none on the hot path
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                return await method(request, timeout=max(remaining, 0.05), wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _UNAVAILABLE:
                    raise _translate(exc, what) from exc
                backoff = backoff or Backoff(first=0.05, cap=1.0)
                delay = backoff.next()
                if not retry or remaining <= delay:
                    raise StoreUnavailable(
                        f"etcd did not answer {what} ({exc.code().name}: {exc.details()}); "
                        f"is etcd running at {', '.join(self.endpoints)}?"
                    ) from exc
            await asyncio.sleep(delay)

    async def get(self, key: str) -> KeyValue | None:
        result = await self.range(Get(key))
        return result.kvs[0] if result.kvs else None

    async def range(self, get: Get, *, limit: int = 0, revision: int = 0, descend: bool = False,
                    serializable: bool = False, timeout: float | None = None) -> RangeResult:
        request = range_request(get, limit=limit, revision=revision, descend=descend,
                                 serializable=serializable)
        rr = await self._call(self.decode_kv.Range, request, what=f"read {get.key}", retry=True,
                              timeout=timeout)
        return RangeResult([decode_kv(kv) for kv in rr.kvs], rr.count, rr.more, rr.header.revision)

    async def range_all(self, get: Get, *, page: int = 1000) -> RangeResult:
        """Every key under a prefix at one revision, read in pages."""
        kvs: list[KeyValue] = []
        start = get.key
        end = prefix_end(get.key) if get.prefix else None
        revision = 0
        while True:
            request = pb.RangeRequest(key=start.encode(), limit=page, revision=revision,
                                      keys_only=get.keys_only)
            if end is not None:
                request.range_end = end.encode()
            rr = await self._call(self.decode_kv.Range, request, what=f"read {get.key}", retry=True)
            revision = revision or rr.header.revision
            kvs.extend(decode_kv(kv) for kv in rr.kvs)
            if not rr.more or not rr.kvs:
                return RangeResult(kvs, len(kvs), False, revision)
            start = rr.kvs[-1].key.decode() + "\x00"

    async def count(self, prefix: str) -> int:
        return (await self.range(Get(prefix, prefix=True, count_only=True))).count

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        response = await self._call(self.decode_kv.Put, pb.PutRequest(key=key.encode(), value=value,
                                                                lease=lease),
                                    what=f"write {key}", retry=False)
        return int(response.header.revision)

    async def delete(self, key: str, *, prefix: bool = False) -> int:
        request = pb.DeleteRangeRequest(key=key.encode())
        if prefix:
            request.range_end = prefix_end(key).encode()
        response = await self._call(self.decode_kv.DeleteRange, request, what=f"delete {key}",
                                    retry=False)
        return int(response.deleted)

    async def txn(self, compares: Iterable[Compare], success: Iterable[Op],
                  failure: Iterable[Op] = (), *, timeout: float | None = None) -> TxnResult:
        """One atomic transaction. One over etcd's limit (MAX_TXN_OPS in any of the three
        lists) raises TransactionTooLarge and is never sent: splitting it would break its
        atomicity, so that is the caller's decision (reads alone: `read_many`)."""
        request = pb.TxnRequest()
        add_compares(request.compare, compares)
        add_ops(request.success, success)
        add_ops(request.failure, failure)
        check_txn(len(request.compare), len(request.success), len(request.failure))
        response = await self._call(self.decode_kv.Txn, request, what="transaction", retry=False,
                                    timeout=timeout)
        return TxnResult(bool(response.succeeded), int(response.header.revision),
                         response.responses)

    async def read_many(self, gets: Sequence[Get]) -> list[RangeResult]:
        """Many reads in as few round trips as etcd allows, answered in order: one
        transaction per MAX_TXN_OPS reads, so each batch is read at its own revision."""
        results: list[RangeResult] = []
        for batch in batches(gets):
            result = await self.txn([], batch)
            results += [r for r in result.responses if isinstance(r, RangeResult)]
        return results

    # --- leases ----------------------------------------------------------------
    async def grant(self, ttl: int) -> int:
        response = await self._call(self._lease.LeaseGrant, pb.LeaseGrantRequest(TTL=ttl),
                                    what="lease grant", retry=True)
        if response.error:
            raise StoreError(f"etcd refused a lease: {response.error}")
        return int(response.ID)

    async def revoke(self, lease: int) -> None:
        with contextlib.suppress(LeaseLost):
            await self._call(self._lease.LeaseRevoke, pb.LeaseRevokeRequest(ID=lease),
                             what="lease revoke", retry=True, timeout=2.0)

    async def time_to_live(self, lease: int) -> int:
        """Seconds left on `lease`, or -1 if it no longer exists."""
        response = await self._call(self._lease.LeaseTimeToLive,
                                    pb.LeaseTimeToLiveRequest(ID=lease),
                                    what="lease lookup", retry=True)
        return int(response.TTL)

    # --- maintenance -----------------------------------------------------------
    async def compact(self, revision: int, *, physical: bool = False,
                      timeout: float | None = None) -> None:
        """Compact history up to `revision`. Not retried (a retry of one that landed would
        fail as "already compacted"); a physical compaction of a big store takes long: give
        it a `timeout`."""
        await self._call(self.decode_kv.Compact, pb.CompactionRequest(revision=revision,
                                                                physical=physical),
                         what="compaction", retry=False, timeout=timeout)

    async def revision(self) -> int:
        return (await self.range(Get("\x00", count_only=True))).revision

    async def status(self) -> dict[str, int]:
        response = await self._call(self._maintenance.Status, pb.StatusRequest(),
                                    what="status", retry=True)
        return {"db_size": int(response.dbSize), "db_size_in_use": int(response.dbSizeInUse),
                "leader": int(response.leader), "raft_term": int(response.raftTerm),
                "revision": int(response.header.revision)}


def _translate(exc: grpc.aio.AioRpcError, what: str) -> StoreError:
    details = exc.details() or ""
    if "lease not found" in details:
        return LeaseLost(f"{what}: the lease no longer exists in etcd")
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "too many operations" in details:
        return TransactionTooLarge(f"{what}: etcd refused too many operations in one "
                                   f"transaction ({details}); is its --max-txn-ops lower "
                                   "than the default 128?")
    return StoreError(f"{what} failed: {exc.code().name}: {details}")


async def retrying(call: Callable[[], Awaitable[T]], *, what: str, attempts: int = 20,
                   first_delay: float = 0.1, max_delay: float = 3.0) -> T:
    """Run `call`, retrying on StoreUnavailable with jittered backoff; logs each retry."""
    backoff = Backoff(first_delay, max_delay)
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except StoreUnavailable as exc:
            if attempt == attempts:
                raise
            delay = backoff.next()
            log.warning("%s: etcd unavailable (%s); retry %d in %.1fs", what, exc, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
