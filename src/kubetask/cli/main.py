"""The `kubetask` program: one command, a subcommand per role or noun."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubetask import __version__
from kubetask.cli.dashboard import dashboard
from kubetask.cli.operator import operator
from kubetask.cli.options import log_options
from kubetask.cli.processes import scheduler, worker
from kubetask.cli.queues import queue
from kubetask.cli.stats import stats
from kubetask.cli.submit import client
from kubetask.cli.tasks import task
from kubetask.errors import (
    KubetaskError,
    StoreUnavailable,
    TaskNotFound,
    TaskStateError,
    ValidationError,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, prog_name="kubetask")
def cli() -> None:
    """kubetask: a distributed task scheduler on etcd.

    Start a local system with `kubetask dev`, then submit with `kubetask client`.
    """


@cli.command()
@click.option("--etcd-port", type=click.IntRange(1, 65535), default=2379, show_default=True,
              help="Port of the embedded etcd on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".kubetask-dev"), show_default=True,
              help="Where etcd data and process logs go.")
@click.option("--workers", type=click.IntRange(0, 64), default=3, show_default=True,
              help="Worker processes (worker-1, worker-2, ...).")
@click.option("--max-concurrent", type=click.IntRange(1, 10_000), default=10,
              show_default=True, help="Slots per worker.")
@click.option("--strategy", type=click.Choice(["round_robin", "random", "least_load",
                                                "weighted"]), default="round_robin",
              show_default=True, help="The scheduler's load-balancing strategy.")
@click.option("--dashboard-port", type=click.IntRange(1, 65535), default=8080,
              show_default=True, help="Port of the dashboard on 127.0.0.1.")
@click.option("--no-demo", is_flag=True, help="Do not submit the demo tasks.")
@click.option("--fresh", is_flag=True,
              help="Delete the data of earlier runs (tasks, logs) first; a fresh data dir "
              "also gets the demo tasks.")
@click.option("--shutdown-timeout", type=click.FloatRange(0, 3600), default=10.0,
              show_default=True, help="On Ctrl-C, how long running tasks may finish.")
@log_options
def dev(etcd_port: int, data_dir: Path, workers: int, max_concurrent: int, strategy: str,
        dashboard_port: int, no_demo: bool, fresh: bool, shutdown_timeout: float,
        log_level: str, log_format: str) -> None:
    """Run etcd, a scheduler, workers and the dashboard locally, in the foreground.

    Data is kept in --data-dir across runs; the demo tasks go into a fresh one only.
    """
    from kubetask.dev import DevSettings, run_dev

    sys.exit(run_dev(DevSettings(data_dir=data_dir, etcd_port=etcd_port, workers=workers,
                                 max_concurrent=max_concurrent, strategy=strategy,
                                 demo=not no_demo, dashboard_port=dashboard_port,
                                 log_level=log_level, shutdown_timeout=shutdown_timeout,
                                 fresh=fresh)))


cli.add_command(scheduler)
cli.add_command(worker)
cli.add_command(client)
cli.add_command(task)
cli.add_command(queue)
cli.add_command(stats)
cli.add_command(dashboard)
cli.add_command(operator)


def _fail(message: str, code: int) -> None:
    click.echo(f"kubetask: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, no tracebacks; exit 2 for bad input."""
    try:
        code = cli.main(args=argv, prog_name="kubetask", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see 'kubetask {exc.ctx.command_path.partition(' ')[2]} --help')".replace(
            "kubetask  ", "kubetask ") if exc.ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint, 2)
    except click.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except ValidationError as exc:
        _fail(str(exc), 2)
    except (TaskNotFound, TaskStateError) as exc:
        _fail(str(exc), 1)
    except StoreUnavailable as exc:
        _fail(f"cannot reach etcd: {exc}", 1)
    except KubetaskError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
