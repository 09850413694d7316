"""etcd security on the wire: TLS channel credentials and etcd's auth token.

With a user and password the store calls etcd's Auth.Authenticate and sends the token it
gets as the `token` metadata of every call. etcd's default "simple" tokens expire after
--auth-token-ttl (300 s) without use, JWT tokens at a fixed time, and every token is
refused once the auth store changes: etcd then answers "invalid auth token" (or "revision
of auth store is old"), and the store authenticates again and repeats the call once.
With a client certificate and no user, etcd takes the certificate's CN as the user.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.errors import AuthenticationFailed, StoreError, ValidationError
from kubetask.model import EtcdCredentials

log = logging.getLogger(__name__)

# etcd's rpctypes messages for a token that is no longer good (refresh and retry).
_STALE_TOKEN = ("invalid auth token", "revision of auth store is old")
_FIX = ("set KUBETASK_ETCD_USER and KUBETASK_ETCD_PASSWORD (or --etcd-password-file), or "
        "a client certificate (--etcd-cert/--etcd-key)")


def _read(flag: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {flag} {path}: {exc.strerror or exc}") from None


def channel_credentials(credentials: EtcdCredentials) -> grpc.ChannelCredentials | None:
    """TLS credentials from the PEM files (None: a plain-text channel)."""
    if not credentials.tls:
        return None
    root = _read("--etcd-cacert", credentials.cacert) if credentials.cacert else None
    key = _read("--etcd-key", credentials.key) if credentials.key else None
    chain = _read("--etcd-cert", credentials.cert) if credentials.cert else None
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key,
                                        certificate_chain=chain)


def is_stale_token(exc: grpc.aio.AioRpcError | str) -> bool:
    """True if etcd's error (or a watch's cancel reason) says the token is no longer good."""
    details = exc if isinstance(exc, str) else exc.details() or ""
    return any(message in details for message in _STALE_TOKEN)


def refused(exc: grpc.aio.AioRpcError, what: str, credentials: EtcdCredentials) -> StoreError | None:
    """A one-line error for an authentication or permission refusal (None: not one)."""
    details = exc.details() or ""
    who = credentials.user or ("the client certificate's CN" if credentials.cert else None)
    if exc.code() == grpc.StatusCode.PERMISSION_DENIED or "permission denied" in details:
        return StoreError(f"{what}: etcd denied permission to {who or 'an anonymous client'}"
                          " (its etcd roles do not grant it)")
    if "user name is empty" in details or "user name not found" in details:
        return AuthenticationFailed(f"{what}: etcd requires authentication: {_FIX}")
    if "authentication failed" in details:
        return AuthenticationFailed(f"etcd refused user {credentials.user!r}: wrong user name or "
                          "password")
    return None


class TokenAuth:
    """The auth token of one etcd user, fetched on first use and again when it goes stale."""

    def __init__(self, credentials: EtcdCredentials) -> None:
        assert credentials.user and credentials.password
        self.user = credentials.user
        self._password = credentials.password
        self._token: str | None = None  # None: not fetched yet; "": auth is off in etcd
        self._lock = asyncio.Lock()

    @property
    def token(self) -> str | None:
        return self._token

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        return (("token", self._token),) if self._token else None

    def forget(self) -> None:
        """The token went stale: the next call authenticates again."""
        self._token = None

    async def refresh(self, channel: grpc.aio.Channel, *, timeout: float) -> None:
        """Authenticate unless another call did meanwhile (one Authenticate at a time)."""
        async with self._lock:
            if self._token is not None:
                return
            stub: Any = pb.AuthStub(channel)
            request = pb.AuthenticateRequest(name=self.user, password=self._password)
            try:
                response = await stub.Authenticate(request, timeout=timeout,
                                                   wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                if "authentication is not enabled" in (exc.details() or ""):
                    log.warning("etcd has auth off: user %r is not needed", self.user)
                    self._token = ""
                    return
                raise
            self._token = str(response.token)
            log.debug("authenticated to etcd as %r", self.user)
