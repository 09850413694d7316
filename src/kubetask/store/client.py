"""The etcd connection: KV reads and writes, transactions, leases, compaction.

This module and its siblings are the only code that imports the etcd client (the gRPC
stubs generated for etcd's v3 API, shipped by the `etcd3aio` package). Everything above
the store sees plain dataclasses and kubetask errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import (
    AuthenticationFailed,
    LeaseLost,
    StoreError,
    StoreUnavailable,
    TransactionTooLarge,
)
from kubetask.model.backoff import Backoff
from kubetask.model.credentials import EtcdCredentials
from kubetask.service import Lifecycle
from kubetask.store.auth import TokenAuth, channel_credentials, is_stale_token, refused
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


def _host_port(endpoint: str) -> tuple[str, str]:
    endpoint = endpoint.strip().removeprefix("http://").removeprefix("https://")
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit() or "/" in endpoint:
        raise StoreError(f"etcd endpoint {endpoint!r} must look like host:port")
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def channel_target(endpoints: Sequence[str]) -> str | None:
    """A gRPC target over all endpoints, balanced round robin, resolved by nobody here.

    IP addresses: an `ipv4:`/`ipv6:` list. One name: `dns:///name:port`, which gRPC
    resolves (asynchronously, again on reconnect: a StatefulSet pod's new IP is found) and
    TLS verifies as the server name. Several names: None, see `resolve_target`.
    """
    pairs = [_host_port(e) for e in endpoints if e.strip()]
    if not pairs:
        raise StoreError("no etcd endpoints given")
    if all(_is_ip(host) for host, _ in pairs):
        hosts = [f"{host}:{port}" for host, port in pairs]
        scheme = "ipv6:" if all(host.startswith("[") for host, _ in pairs) else "ipv4:"
        return scheme + ",".join(dict.fromkeys(hosts))
    if len(pairs) == 1:
        host, port = pairs[0]
        return f"dns:///{host}:{port}"
    return None


async def resolve_target(endpoints: Sequence[str], timeout: float) -> str:
    """Several named endpoints: their IPv4 addresses, looked up without blocking the event
    loop and within `timeout` (gRPC's target syntax has no list of names)."""
    loop = asyncio.get_running_loop()
    addresses: list[str] = []
    for host, port in (_host_port(e) for e in endpoints if e.strip()):
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, int(port), family=socket.AF_INET,
                                               type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"cannot resolve etcd endpoint {host}:{port}: "
                                   f"{exc or 'no answer in time'}") from None
        addresses.append(f"{infos[0][4][0]}:{port}")
    return "ipv4:" + ",".join(dict.fromkeys(addresses))


class Store(Lifecycle):
    """An asyncio connection to an etcd cluster.

    Reads retry on unavailability until `timeout`. Writes are never retried blindly here:
    every kubetask write is a compare-and-swap, so its caller retries and, when the first
    try's outcome was unknown, reads back what happened (DESIGN.md §2.3).
    """

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0,
                 connect_timeout: float | None = None,
                 credentials: EtcdCredentials | None = None) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        # When set, start() fails fast unless a connection is up within it (one-shot CLI
        # commands); unset, the first call waits for etcd up to `timeout` (and retries).
        self.connect_timeout = connect_timeout
        self.credentials = credentials or EtcdCredentials()
        self._target = channel_target(self.endpoints)  # checks the endpoints, resolves none
        self._auth = TokenAuth(self.credentials) if self.credentials.user else None
        self._channel: grpc.aio.Channel | None = None
        self.decode_kv: Any = None
        self._lease: Any = None
        self._watch: Any = None
        self._maintenance: Any = None

    # --- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._channel is not None:
            return
        self._channel = await self._open_channel()
        self.decode_kv = pb.KVStub(self._channel)
        self._lease = pb.LeaseStub(self._channel)
        self._watch = pb.WatchStub(self._channel)
        self._maintenance = pb.MaintenanceStub(self._channel)
        if self.connect_timeout is not None:
            await self._wait_connected(self.connect_timeout)
            await self._authenticate_now(self.connect_timeout)
        elif self.credentials.user or self.credentials.cert:
            await self._check_credentials()

    async def _open_channel(self) -> grpc.aio.Channel:
        target = self._target or await resolve_target(
            self.endpoints, self.connect_timeout or self.timeout)
        options = list(_GRPC_OPTIONS)
        tls = channel_credentials(self.credentials)
        if tls is None:
            return grpc.aio.insecure_channel(target, options=options)
        if self._target is None:  # resolved here: TLS checks the first endpoint's name
            options.append(("grpc.ssl_target_name_override", self.endpoints[0].rsplit(":", 1)[0]))
        return grpc.aio.secure_channel(target, tls, options=options)

    async def _check_credentials(self) -> None:
        """Long-running processes: credentials etcd refuses (a wrong password, none where
        etcd wants some) raise StoreError now, so the process exits with it instead of
        retrying forever; an etcd not reachable yet is left to the calls' own patience."""
        try:
            await self._call(self.decode_kv.Range, pb.RangeRequest(key=b"\x00", count_only=True),
                             what="authentication", retry=False)
        except AuthenticationFailed:
            await self.stop()
            raise
        except StoreError as exc:  # unreachable yet, or a role without the probe's key
            log.debug("credentials check: %s", exc)

    async def _authenticate_now(self, timeout: float) -> None:
        """Fail fast on a wrong user or password (one-shot commands)."""
        if self._auth is None:
            return
        try:
            await self._auth.refresh(self._require_channel(), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            await self.stop()
            raise self._translate(exc, "authentication") from None

    async def _wait_connected(self, timeout: float) -> None:
        assert self._channel is not None
        try:
            async with asyncio.timeout(timeout):
                await self._channel.channel_ready()
        except TimeoutError:
            await self.stop()
            tls = " (with TLS: check --etcd-cacert and the client certificate)" if (
                self.credentials.tls) else ""
            raise StoreUnavailable(
                f"no connection within {timeout:g}s to {', '.join(self.endpoints)}; "
                f"is etcd running there?{tls}") from None

    async def stop(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def _require_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            raise StoreError("the etcd store is not started")
        return self._channel

    # --- auth ------------------------------------------------------------------
    async def call_metadata(self, timeout: float | None = None) -> tuple[tuple[str, str], ...] | None:
        """The metadata every call sends (the auth token, fetched if not yet known)."""
        if self._auth is None:
            return None
        if self._auth.token is None:
            await self._auth.refresh(self._require_channel(), timeout=timeout or self.timeout)
        return self._auth.metadata()

    def forget_stale_token(self, exc: grpc.aio.AioRpcError | str) -> bool:
        """True if `exc` (or a watch's cancel reason) says the token is stale: it is
        dropped, the next call fetches one."""
        if self._auth is None or not is_stale_token(exc):
            return False
        self._auth.forget()
        return True

    def _translate(self, exc: grpc.aio.AioRpcError, what: str) -> StoreError:
        return refused(exc, what, self.credentials) or _translate(exc, what)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The started store's gRPC channel (for etcd's Auth service: store/roles.py)."""
        return self._require_channel()

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
        refreshed = False
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                metadata = await self.call_metadata(max(remaining, 0.05))
                return await method(request, timeout=max(remaining, 0.05), wait_for_ready=True,
                                    metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                if not refreshed and self.forget_stale_token(exc):
                    refreshed = True  # refused before it was applied: safe to repeat once
                    continue
                if exc.code() not in _UNAVAILABLE:
                    raise self._translate(exc, what) from exc
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
