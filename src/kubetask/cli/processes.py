"""`kubetask scheduler` and `kubetask worker`: the long-running processes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any, TypeVar

import click

from kubetask import metrics, standalone
from kubetask.cli.logconfig import configure
from kubetask.cli.options import (
    MAX_RETRIES_TYPE,
    PREFETCH_HOLD_TYPE,
    PREFETCH_TYPE,
    NameType,
    etcd_credentials,
    etcd_options,
    generated_id,
    log_options,
    queue_option,
)
from kubetask.cli.runner import serve
from kubetask.model import RetryPolicy
from kubetask.scheduler import Scheduler, SchedulerSettings
from kubetask.scheduler.strategies import STRATEGIES
from kubetask.supervisor import RestartPolicy, Supervisor
from kubetask.web.health import HealthEndpoint
from kubetask.worker import ExecutorRegistry, Worker, WorkerSettings
from kubetask.worker.settings import DEFAULT_PREFETCH_HOLD

F = TypeVar("F", bound=Callable[..., Any])


def metrics_options(f: F) -> F:
    """--metrics-port/--metrics-host: Prometheus /metrics of this process (off by default)."""
    f = click.option("--metrics-host", default="0.0.0.0", show_default=True,
                     envvar="KUBETASK_METRICS_HOST",
                     help="Address of the /metrics endpoint.")(f)
    f = click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
                     envvar="KUBETASK_METRICS_PORT",
                     help="Serve Prometheus metrics at http://HOST:PORT/metrics (default: off).")(f)
    return f


H = TypeVar("H")


def start_metrics(start: Callable[[int, str], tuple[H, metrics.MetricsEndpoint]],
                  port: int | None, host: str) -> tuple[H | None, metrics.MetricsEndpoint | None]:
    """(hooks, endpoint) from `start(port, host)`, or (None, None) when the port is not set."""
    if port is None:
        return None, None
    try:
        return start(port, host)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {host}:{port} "
                                   f"({exc.strerror or exc}); pick another --metrics-port") from exc


def health_options(f: F) -> F:
    """--health-port/--health-host: the worker's /livez and /readyz (off by default)."""
    f = click.option("--health-host", default="127.0.0.1", show_default=True,
                     envvar="KUBETASK_HEALTH_HOST",
                     help="Address of the health endpoint (0.0.0.0 in a pod).")(f)
    f = click.option("--health-port", type=click.IntRange(1, 65535), default=None,
                     envvar="KUBETASK_HEALTH_PORT",
                     help="Serve http://HOST:PORT/livez (the process answers) and /readyz "
                     "(registered under a live lease, not draining) (default: off).")(f)
    return f


async def _serve_health(component: Scheduler | Worker,
                        health: tuple[str, int] | None) -> HealthEndpoint | None:
    if health is None or not isinstance(component, Worker):
        return None
    host, port = health
    endpoint = HealthEndpoint(component.not_ready, host, port)
    try:
        await endpoint.start()
    except OSError as exc:
        raise click.ClickException(f"cannot serve the health endpoint on {host}:{port} "
                                   f"({exc.strerror or exc}); pick another --health-port") from exc
    return endpoint


def run_component(component: AbstractAsyncContextManager[Scheduler | Worker],
                  endpoint: metrics.MetricsEndpoint | None,
                  health: tuple[str, int] | None = None) -> None:
    """Run a scheduler or worker on its own etcd connection until SIGTERM / Ctrl-C (or its
    failure), then stop it gracefully and close its metrics endpoint. With `health` (host,
    port) a worker serves /livez and /readyz from this same loop."""

    async def run() -> None:
        probes: HealthEndpoint | None = None
        try:
            async with component as c:
                probes = await _serve_health(c, health)
                # The component restarts its own sessions by the restart rule; whatever it
                # lets out (a bug that repeats: ServiceFailed) ends the process with exit 1.
                supervisor = Supervisor(RestartPolicy(restart_on=(), max_failures=1))
                supervisor.add("component", c)
                await serve(supervisor)
        finally:
            if probes is not None:
                await probes.stop()
            if endpoint is not None:
                endpoint.close()

    asyncio.run(run())


@click.command()
@click.option("--node-id", envvar="KUBETASK_NODE_ID", type=NameType("node"),
              help="Scheduler node id (default: generated).")
@etcd_options
@queue_option
@click.option("--strategy", type=click.Choice(list(STRATEGIES)), default="round_robin",
              show_default=True, envvar="KUBETASK_STRATEGY", help="Load-balancing strategy.")
@click.option("--session-ttl", type=click.IntRange(2, 300), default=5, show_default=True,
              envvar="KUBETASK_SESSION_TTL",
              help="Leader session TTL (s): a dead leader is replaced within TTL + 1 s.")
@click.option("--priority-aging", type=click.FloatRange(min=0, min_open=True), default=None,
              envvar="KUBETASK_PRIORITY_AGING", metavar="SECONDS",
              help="Raise a waiting task one priority level per SECONDS waited (bounds "
              "starvation at 3 x SECONDS); default: strict priority.")
@click.option("--retention", type=click.FloatRange(min=0), default=86400.0, show_default=True,
              envvar="KUBETASK_RETENTION",
              help="Seconds a finished task is kept before it is deleted (0: keep forever).")
@click.option("--compact-history", type=click.FloatRange(min=0), default=300.0,
              show_default=True, envvar="KUBETASK_COMPACT_HISTORY",
              help="Seconds of etcd history kept; older history is compacted (0: leave "
              "compaction to etcd's own --auto-compaction).")
@click.option("--janitor-interval", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, envvar="KUBETASK_JANITOR_INTERVAL", metavar="SECONDS",
              help="Seconds between the leader's housekeeping passes (retention, compaction).")
@metrics_options
@log_options
def scheduler(node_id: str | None, etcd_endpoints: str, namespace: str, queue: str,
              strategy: str, session_ttl: int, priority_aging: float | None, retention: float,
              compact_history: float, janitor_interval: float,
              metrics_port: int | None, metrics_host: str,
              log_level: str, log_format: str) -> None:
    """Run a scheduler for a queue (several may run: one leads, the others stand by)."""
    node_id = node_id or generated_id("scheduler")
    configure(log_level, log_format, name=node_id)
    settings = SchedulerSettings(queue=queue, node_id=node_id, strategy=strategy,
                                 session_ttl=session_ttl, retention_seconds=retention,
                                 priority_aging_seconds=priority_aging,
                                 compact_history_seconds=compact_history,
                                 janitor_interval=janitor_interval)

    hooks, endpoint = start_metrics(partial(metrics.scheduler_metrics, queue), metrics_port,
                                    metrics_host)
    run_component(standalone.scheduler(etcd_endpoints, namespace, settings, hooks,
                                       credentials=etcd_credentials()), endpoint)


@click.command()
@click.option("--node-id", envvar="KUBETASK_NODE_ID", type=NameType("node"),
              help="Worker node id (default: generated).")
@etcd_options
@queue_option
@click.option("--max-concurrent", type=click.IntRange(1, 10_000), default=10,
              show_default=True, envvar="KUBETASK_MAX_CONCURRENT",
              help="Maximum tasks running at once.")
@click.option("--prefetch", type=PREFETCH_TYPE, default=None, envvar="KUBETASK_PREFETCH",
              help="Tasks the worker may hold beyond its free slots, waiting for one "
              "(0: only as many as it has free slots; fewer while its recent run times "
              "would keep them waiting past half the --prefetch-hold)  [default: four "
              "times --max-concurrent]")
@click.option("--prefetch-hold", type=PREFETCH_HOLD_TYPE, default=DEFAULT_PREFETCH_HOLD,
              show_default=True, envvar="KUBETASK_PREFETCH_HOLD", metavar="SECONDS",
              help="A prefetched task waiting longer than this for a slot is handed back "
              "for another worker.")
@click.option("--weight", type=click.IntRange(1, 1000), default=1, show_default=True,
              envvar="KUBETASK_WEIGHT", help="Share of tasks under the weighted strategy.")
@click.option("--import", "imports", multiple=True, envvar="KUBETASK_IMPORT",
              metavar="MODULE", help="Module with @kubetask.executor functions (repeatable).")
@click.option("--lease-ttl", type=click.IntRange(2, 300), default=10, show_default=True,
              envvar="KUBETASK_LEASE_TTL",
              help="Worker lease TTL (s): a dead worker's tasks go back within TTL + 1 s.")
@click.option("--shutdown-timeout", type=click.FloatRange(0, 3600), default=30.0,
              show_default=True, envvar="KUBETASK_SHUTDOWN_TIMEOUT",
              help="On SIGTERM, how long running tasks may finish before being handed back.")
@click.option("--max-retries", type=MAX_RETRIES_TYPE, default=3, show_default=True,
              envvar="KUBETASK_MAX_RETRIES",
              help="Retries of a failed task that sets none and whose queue sets none.")
@click.option("--retry-base", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              envvar="KUBETASK_RETRY_BASE", help="Backoff before the first retry (s).")
@click.option("--retry-cap", type=click.FloatRange(0, 86400), default=60.0,
              show_default=True, envvar="KUBETASK_RETRY_CAP", help="Longest backoff (s).")
@metrics_options
@health_options
@log_options
def worker(node_id: str | None, etcd_endpoints: str, namespace: str, queue: str,
           max_concurrent: int, prefetch: int | None, prefetch_hold: float, weight: int,
           imports: tuple[str, ...], lease_ttl: int,
           shutdown_timeout: float, max_retries: int, retry_base: float, retry_cap: float,
           metrics_port: int | None, metrics_host: str, health_port: int | None,
           health_host: str, log_level: str, log_format: str) -> None:
    """Run a worker: lease tasks of a queue from etcd and execute them."""
    node_id = node_id or generated_id("worker")
    configure(log_level, log_format, name=node_id)
    if "." not in sys.path:
        sys.path.insert(0, ".")  # --import resolves modules of the current folder too
    registry = ExecutorRegistry()
    for module in imports:
        for part in module.split(","):
            if part.strip():
                registry.load_module(part.strip())
    settings = WorkerSettings(queue=queue, node_id=node_id, max_concurrent=max_concurrent,
                              prefetch=prefetch, prefetch_hold=prefetch_hold, weight=weight,
                              lease_ttl=lease_ttl,
                              shutdown_timeout=shutdown_timeout,
                              retry=RetryPolicy(max_retries=max_retries, base_seconds=retry_base,
                                                cap_seconds=retry_cap))

    hooks, endpoint = start_metrics(metrics.worker_metrics, metrics_port, metrics_host)
    run_component(standalone.worker(etcd_endpoints, namespace, settings, registry, hooks,
                                    credentials=etcd_credentials()),
                  endpoint, None if health_port is None else (health_host, health_port))
