"""Trouble: once per cause at WARNING, repeats at DEBUG, the recovery told once."""

from __future__ import annotations

import logging

from kubetask.trouble import Recovery, Trouble


def test_a_lasting_failure_warns_once_per_cause_and_its_recovery_is_told_once() -> None:
    now = [100.0]
    trouble = Trouble(clock=lambda: now[0])
    assert trouble.recovered() is None  # all was well
    levels = []
    for cause in ("unreachable", "unreachable", "unreachable", "refused", "refused"):
        levels.append(trouble.failed(cause))
        now[0] += 2
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.WARNING,
                      logging.DEBUG]
    assert trouble.recovered() == Recovery(failures=5, seconds=10.0)
    assert trouble.recovered() is None
    assert trouble.failed("unreachable") == logging.WARNING  # a new outage warns again
