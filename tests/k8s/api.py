"""A small JSON client of the Kubernetes REST API (stdlib only), for the test control plane.

The fixtures and the process kubelet need a handful of calls (get, create, patch, delete,
list, watch) with a client certificate. The standard library does that in a page, and the
test layer then needs neither the `kubernetes` package nor its warnings.
"""

from __future__ import annotations

import functools
import http.client
import json
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ApiError(Exception):
    """An API call answered with a status >= 400."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class ApiClient:
    """Client-certificate credentials for one API server on 127.0.0.1."""

    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    timeout: float = 10.0

    @functools.cached_property
    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self._context,
                                           timeout=timeout)

    def request(self, method: str, path: str, body: Json | None = None,
                content_type: str = "application/json") -> Json:
        connection = self._connection(self.timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        if response.status >= 400:
            raise ApiError(method, path, response.status, text)
        return json.loads(text) if text.startswith("{") else {"raw": text}

    def get(self, path: str, **params: str) -> Json:
        return self.request("GET", with_query(path, params))

    def create(self, path: str, body: Json) -> Json:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Json, content_type: str = MERGE_PATCH) -> Json:
        return self.request("PATCH", path, body, content_type)

    def delete(self, path: str, body: Json | None = None) -> Json:
        return self.request("DELETE", path, body)

    def text(self, path: str) -> tuple[int, str]:
        """GET a non-JSON endpoint (/readyz, /metrics): its status and body, never raising on >= 400."""
        connection = self._connection(self.timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def watch(self, path: str, resource_version: str, timeout_seconds: int,
              **params: str) -> Iterator[Json]:
        """Events of one watch from `resource_version`; ends when the server closes it
        (after `timeout_seconds`) or with ApiError (410 Gone: list again)."""
        query = {**params, "watch": "true", "resourceVersion": resource_version,
                 "timeoutSeconds": str(timeout_seconds), "allowWatchBookmarks": "true"}
        full = with_query(path, query)
        connection = self._connection(timeout_seconds + 10)
        try:
            connection.request("GET", full, headers={"Accept": "application/json"})
            response = connection.getresponse()
            if response.status >= 400:
                raise ApiError("WATCH", full, response.status, response.read().decode())
            for line in iter(response.readline, b""):
                event: Json = json.loads(line)
                if event.get("type") == "ERROR":
                    obj = event.get("object", {})
                    raise ApiError("WATCH", full, int(obj.get("code", 500)), json.dumps(obj))
                yield event
        finally:
            connection.close()


def with_query(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urllib.parse.urlencode(params)}" if params else path
