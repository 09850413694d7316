"""What every request passes through: errors as JSON, the write guard, counting, headers."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from kubetask.errors import (
    KubetaskError,
    QueueNotFound,
    StoreUnavailable,
    TaskNotFound,
    TaskStateError,
    ValidationError,
)
from kubetask.web.context import API_METRICS, SETTINGS
from kubetask.web.views import error_response

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# The page runs only its own script and style: data shown in it can never run as code.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")


def _status_of(exc: KubetaskError) -> int:
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, TaskNotFound | QueueNotFound):
        return 404
    if isinstance(exc, TaskStateError):
        return 409
    if isinstance(exc, StoreUnavailable):
        return 503
    return 500


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """kubetask errors and HTTP errors become {"error": message} with the right status."""
    try:
        return await handler(request)
    except KubetaskError as exc:
        status = _status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc)
        return error_response(status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return error_response(exc.status, _http_message(request, exc), **headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the dashboard's log has the details")


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no route {request.method} {request.path}; the API is described at " \
               "/api/v1/openapi.json"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path} (allowed: " \
               f"{exc.headers.get('Allow', '')})"
    if exc.status == 413:
        return ("the request body is too large; send fewer tasks per request "
                f"(at most {request.app[SETTINGS].max_body_bytes} bytes)")
    text = exc.text or ""
    return exc.reason if not text or text.startswith(f"{exc.status}:") else text


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _trusted_host(request: web.Request) -> bool:
    """Bound to loopback, only loopback names are answered: a page whose own name was
    re-pointed at 127.0.0.1 (DNS rebinding) cannot pass for the dashboard."""
    if request.app[SETTINGS].host not in _LOOPBACK:
        return True
    name = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return name.lower() in _LOOPBACK


def _same_origin(request: web.Request) -> bool:
    """A browser's cross-site POST carries a foreign Origin: refuse it (no CSRF)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (curl, SDKs), or a same-origin GET
    return urlsplit(origin).netloc == request.host


@web.middleware
async def write_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read-only unless --allow-writes, or the request carries the --token as a bearer."""
    if request.method in _READS or request.match_info.http_exception is not None:
        return await handler(request)  # reads, and unknown routes (404/405 from the router)
    settings = request.app[SETTINGS]
    if not (_trusted_host(request) and _same_origin(request)):
        return error_response(403, "cross-origin writes are refused (the Origin or Host "
                                   "header names another site); use the dashboard's own page "
                                   "or a non-browser client")
    if settings.allow_writes:
        return await handler(request)
    if settings.token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              settings.token.encode()):
            return await handler(request)
        return error_response(401, "this action needs the dashboard token: send "
                                   "`Authorization: Bearer <token>`",
                              **{"WWW-Authenticate": 'Bearer realm="kubetask"'})
    return error_response(403, "the dashboard is read-only: start it with --allow-writes "
                               "or --token to allow submit, cancel and retry")


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[API_METRICS].request(request.method, route, status)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
