"""One set of input rules on every entry point: the same bad value gets the same message
from the CLI, the SDK and the HTTP API (the rules live in kubetask.model.validation), and
nothing is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.errors import ValidationError
from kubetask.model import MAX_PAYLOAD_BYTES
from kubetask.web.settings import DashboardSettings
from tests.conftest import run_cli
from tests.harness import running_dashboard

pytestmark = pytest.mark.etcd

BIG = {"s": "x" * MAX_PAYLOAD_BYTES}

# (what, CLI arguments after `client`, the same input as TaskSpec / HTTP fields)
CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("queue with /", ["--queue=a/b"], {"queue": "a/b"}),
    ("queue with ..", ["--queue=a..b"], {"queue": "a..b"}),
    ("queue 129 long", ["--queue=" + "q" * 129], {"queue": "q" * 129}),
    ("type with space", ["--type=x y"], {"type": "x y"}),
    ("task name", ["--name=-lead"], {"name": "-lead"}),
    ("idempotency key", ["--idempotency-key=k/1"], {"key": "k/1"}),
    ("priority", ["--priority=urgentest"], {"priority": "urgentest"}),
    ("max retries", ["--max-retries=101"], {"max_retries": 101}),
    ("timeout zero", ["--timeout=0"], {"timeout": 0.0}),
    ("timeout over a week", ["--timeout=700000.5"], {"timeout": 700000.5}),
    ("delay over a year", ["--delay=40000000"], {"delay": 40000000.0}),
    ("payload over the cap", ["--payload=@PAYLOAD"], {"payload": BIG}),
]


def sdk_message(fields: dict[str, Any]) -> str:
    spec = {"type": "echo", **fields}
    with pytest.raises(ValidationError) as caught:
        TaskSpec(**spec).build()
    return str(caught.value)


@pytest.fixture
async def base(client: AsyncClient) -> AsyncIterator[str]:
    settings = DashboardSettings(namespace=client.namespace, port=0, allow_writes=True)
    async with running_dashboard(client, settings) as url:
        yield url


@pytest.mark.parametrize("what,args,fields", CASES, ids=[c[0] for c in CASES])
async def test_cli_sdk_and_http_refuse_with_the_same_message(
        what: str, args: list[str], fields: dict[str, Any], base: str, client: AsyncClient,
        cli_env: dict[str, str], tmp_path: Path) -> None:
    expected = sdk_message(fields)
    payload = tmp_path / "payload.json"
    payload.write_bytes(orjson.dumps(BIG))
    argv = ["client", *(a.replace("@PAYLOAD", f"@{payload}") for a in args)]
    cli = await asyncio.to_thread(run_cli, argv, cli_env)
    assert cli.returncode == 2, cli.stderr
    assert expected in cli.stderr, (expected, cli.stderr)
    assert len(cli.stderr.strip().splitlines()) == 1
    body = orjson.dumps({"type": "echo", **fields})
    async with aiohttp.ClientSession() as http, http.post(
            f"{base}/api/v1/tasks", data=body,
            headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        answer = await response.json()
    assert answer["error"] == expected
    assert await client.queues() == [] and await client.list() == []
