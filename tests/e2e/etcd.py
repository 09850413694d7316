"""The chart's etcd members reached over TLS from this machine (the local cluster's pod
addresses are routed here): etcd's JSON gateway with or without the clients' certificate."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from pathlib import Path
from typing import Any

from tests.e2e.deploy import ETCD
from tests.e2e.kube import Kube

CLIENT_PORT = 2379


def client_context(kube: Kube, namespace: str, directory: Path, *, certificate: bool) -> ssl.SSLContext:
    """Trusts the chart's CA (from its clients' Secret); presents that Secret's certificate
    when `certificate`."""
    data = kube.get("secret", namespace, f"{ETCD}-client-tls")["data"]
    directory.mkdir(mode=0o700, exist_ok=True)
    for key, value in data.items():
        (directory / key).write_bytes(base64.b64decode(value))
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    if certificate:
        context.load_cert_chain(str(directory / "tls.crt"), str(directory / "tls.key"))
    return context


def call(pod: dict[str, Any], context: ssl.SSLContext, path: str) -> dict[str, Any]:
    """POST {} to `path` of the member `pod`, its certificate checked for its peer DNS name."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    server_name = f"{name}.{ETCD}-peers.{namespace}.svc"
    with socket.create_connection((pod["status"]["podIP"], CLIENT_PORT), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"POST {path} HTTP/1.1\r\nHost: {server_name}\r\nContent-Type: application/json"
                    "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".encode())
        response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        response.begin()
        body = response.read()
    assert response.status == 200, (response.status, body[:200])
    document: dict[str, Any] = json.loads(body)
    return document


def leader(pod: dict[str, Any], context: ssl.SSLContext) -> tuple[str, str]:
    """(this member's id, the leader's id) as the member reports them."""
    status = call(pod, context, "/v3/maintenance/status")
    return status["header"]["member_id"], status["leader"]
