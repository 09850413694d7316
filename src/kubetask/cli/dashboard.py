"""`kubetask dashboard`: the web dashboard, JSON HTTP API and /metrics of a namespace."""

from __future__ import annotations

import asyncio

import click

from kubetask.cli.logconfig import configure
from kubetask.cli.options import etcd_credentials, etcd_options, log_options
from kubetask.cli.runner import serve


@click.command()
@etcd_options
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KUBETASK_DASHBOARD_HOST",
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              envvar="KUBETASK_DASHBOARD_PORT", help="Port to listen on (0: any free port).")
@click.option("--allow-writes", is_flag=True, envvar="KUBETASK_DASHBOARD_ALLOW_WRITES",
              help="Let anyone who reaches the port submit, cancel and retry tasks.")
@click.option("--token", envvar="KUBETASK_DASHBOARD_TOKEN", metavar="TOKEN",
              help="Allow writes to requests with `Authorization: Bearer TOKEN`.")
@log_options
def dashboard(etcd_endpoints: str, namespace: str, host: str, port: int, allow_writes: bool,
              token: str | None, log_level: str, log_format: str) -> None:
    """Serve the web dashboard, the JSON HTTP API (/api/v1) and Prometheus /metrics.

    Read-only unless --allow-writes or --token is given.
    """
    configure(log_level, log_format, name="dashboard")
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
