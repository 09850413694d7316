"""The CLI's logging: the level given is what shows, libraries' routine INFO lines only at
debug (kopf logs one per handler run and per timer tick, forever, in a healthy operator)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kubetask.cli.logconfig import configure

KOPF_TICK = "Timer '_queue_handlers.<locals>.queue_status' succeeded."


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level
                                            for name in ("kopf", "kopf.objects", "grpc")})
    yield
    handlers, level, levels = saved
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_at_info_kopf_keeps_its_warnings_but_not_its_routine_lines(
        capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", name="operator")
    logging.getLogger("kopf.objects").info(KOPF_TICK)
    logging.getLogger("kopf.objects").warning("Patching failed with inconsistencies")
    logging.getLogger("kubetask.operator.queues").info("scheduler of queue ns/q added")
    err = capsys.readouterr().err
    assert KOPF_TICK not in err
    assert "Patching failed with inconsistencies" in err
    assert "scheduler of queue ns/q added" in err


def test_at_debug_kopf_says_everything(capsys: pytest.CaptureFixture[str]) -> None:
    configure("debug", name="operator")
    logging.getLogger("kopf.objects").info(KOPF_TICK)
    assert KOPF_TICK in capsys.readouterr().err


def test_at_error_kopf_warnings_are_quiet_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure("error", name="operator")
    logging.getLogger("kopf.objects").warning("a kopf warning")
    logging.getLogger("kopf.objects").error("a kopf error")
    err = capsys.readouterr().err
    assert "a kopf warning" not in err and "a kopf error" in err


def test_the_operator_says_what_it_watches_when_it_starts() -> None:
    from kubetask.cli.operator import startup_line

    line = startup_line("etcd:2379", None, "kubetask/worker:0.1.0")
    assert "all namespaces" in line and "etcd:2379" in line and "kubetask/worker:0.1.0" in line
    assert "namespace team-a" in startup_line("etcd:2379", "team-a", "img")
