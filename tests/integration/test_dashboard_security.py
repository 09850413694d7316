"""The dashboard as started from the command line: loopback by default, writes only with the
token (read from --token-file), security headers on every response, a page a strict CSP
does not break, and the token never in a page or the log."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import run_cli
from tests.harness import Proc

pytestmark = pytest.mark.etcd

TOKEN = "tok-6f1d0c9e2b7a4e55"
URL = re.compile(r"kubetask dashboard: (http://\S+/)")


@pytest.fixture
def dashboard(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[tuple[Proc, str]]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    proc = Proc(["dashboard", "--port=0", f"--token-file={token_file}", "--log-level=debug"],
                cli_env, tmp_path / "dashboard.log")
    try:
        deadline = time.monotonic() + 30
        while not (found := URL.search(proc.output())):
            assert proc.popen.poll() is None, proc.output()
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.1)
        yield proc, found.group(1)
    finally:
        proc.stop(timeout=20)


def check_headers(path: str, headers: aiohttp.typedefs.LooseHeaders) -> None:
    got = {k.lower(): v for k, v in dict(headers).items()}
    csp = got.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, path
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
    assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
    assert got.get("x-content-type-options") == "nosniff", path
    assert got.get("referrer-policy") == "no-referrer", path


async def fetch(http: aiohttp.ClientSession, method: str, url: str,
                **kwargs: object) -> tuple[int, str]:
    async with http.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
        check_headers(f"{method} {url} -> {response.status}", response.headers)
        return response.status, await response.text()


async def exercise(base: str) -> dict[str, str]:
    pages: dict[str, str] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        for path in ("", "static/app.js", "static/style.css", "api/v1/info", "api/v1/stats",
                     "api/v1/openapi.json", "metrics", "healthz", "no/such/route"):
            _, pages[path] = await fetch(http, "GET", base + path)
        task = {"json": {"type": "echo"}}
        assert (await fetch(http, "POST", base + "api/v1/tasks", **task))[0] == 401
        wrong = {"Authorization": "Bearer " + TOKEN[:-1]}
        assert (await fetch(http, "POST", base + "api/v1/tasks", headers=wrong, **task))[0] == 401
        right = {"Authorization": "Bearer " + TOKEN}
        assert (await fetch(http, "POST", base + "api/v1/tasks", headers=right, **task))[0] == 201
        evil = {**right, "Origin": "http://evil.example"}
        assert (await fetch(http, "POST", base + "api/v1/tasks", headers=evil, **task))[0] == 403
        async with http.get(base + "api/v1/events") as events:  # the SSE stream too
            check_headers("GET events", events.headers)
    return pages


def test_token_file_guards_writes_and_never_shows_up(dashboard: tuple[Proc, str]) -> None:
    proc, base = dashboard
    assert base.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
    pages = asyncio.run(exercise(base))
    page = pages[""]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script in the page"
    assert "<style" not in page and not re.search(r"\sstyle=", page), "inline style"
    assert not re.search(r"\son[a-z]+=", page), "inline event handler in the page"
    assert proc.stop(timeout=20) is not None
    for name, text in [*pages.items(), ("the log", proc.output())]:
        assert TOKEN not in text, name
    assert "GET" in proc.output() or "dashboard listening" in proc.output()


@pytest.mark.parametrize("content,extra,message", [
    ("", [], "is empty"),
    ("two words", [], "one word"),
    ("t", ["--token=x"], "not both"),
])
def test_bad_token_file_is_refused_before_listening(
        tmp_path: Path, cli_env: dict[str, str], content: str, extra: list[str],
        message: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    result = run_cli(["dashboard", "--port=0", f"--token-file={token_file}", *extra], cli_env,
                     timeout=30)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
