"""`kubetask dashboard`: the web dashboard, JSON HTTP API and /metrics of a namespace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from kubetask.cli.logconfig import configure
from kubetask.cli.options import etcd_credentials, etcd_options, log_options
from kubetask.cli.runner import serve


def read_token(path: Path) -> str:
    """The token in `path` (one line; surrounding whitespace dropped), never empty."""
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise click.UsageError(f"--token-file {path}: cannot read it "
                               f"({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise click.UsageError(f"--token-file {path} is not UTF-8 text") from None
    if not token:
        raise click.UsageError(f"--token-file {path} is empty; put the token in it")
    if any(c.isspace() for c in token):
        raise click.UsageError(f"--token-file {path}: the token must be one word (no "
                               "spaces or line breaks inside)")
    return token


@click.command()
@etcd_options
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KUBETASK_DASHBOARD_HOST",
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              envvar="KUBETASK_DASHBOARD_PORT", help="Port to listen on (0: any free port).")
@click.option("--allow-writes", is_flag=True, envvar="KUBETASK_DASHBOARD_ALLOW_WRITES",
              help="Let anyone who reaches the port submit, cancel and retry tasks.")
@click.option("--token", envvar="KUBETASK_DASHBOARD_TOKEN", metavar="TOKEN",
              help="Allow writes to requests with `Authorization: Bearer TOKEN` (prefer "
              "--token-file or the variable: a command line is visible to other users).")
@click.option("--token-file", envvar="KUBETASK_DASHBOARD_TOKEN_FILE", metavar="PATH",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Read the token from this file (e.g. a mounted Secret).")
@log_options
def dashboard(etcd_endpoints: str, namespace: str, host: str, port: int, allow_writes: bool,
              token: str | None, token_file: Path | None, log_level: str,
              log_format: str) -> None:
    """Serve the web dashboard, the JSON HTTP API (/api/v1) and Prometheus /metrics.

    Read-only unless --allow-writes, --token or --token-file is given.
    """
    configure(log_level, log_format, name="dashboard")
    if token_file is not None:
        if token:
            raise click.UsageError("give the token once: --token (KUBETASK_DASHBOARD_TOKEN) "
                                   "or --token-file (KUBETASK_DASHBOARD_TOKEN_FILE), not both")
        token = read_token(token_file)
    from kubetask.web.server import Dashboard  # imported when used: aiohttp takes a while
    from kubetask.web.settings import DashboardSettings

    settings = DashboardSettings(
        etcd_endpoints=etcd_endpoints, namespace=namespace, host=host, port=port,
        etcd_credentials=etcd_credentials(),
        allow_writes=allow_writes, token=token or None)
    board = Dashboard(settings)
    listening = False

    def started() -> None:
        nonlocal listening
        listening = True
        writes = {"open": "writes allowed", "token": "writes need the token",
                  "disabled": "read-only"}[settings.writes]
        click.echo(f"kubetask dashboard: {board.url}  (namespace {namespace}, {writes})",
                   err=False)
        click.echo(f"  API      {board.url}api/v1  (OpenAPI: {board.url}api/v1/openapi.json)")
        click.echo(f"  metrics  {board.url}metrics")

    try:
        asyncio.run(serve(board, started=started))
    except OSError as exc:
        if listening:
            raise
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another "
            "dashboard running? Pass --port N") from exc
