"""`kubetask task get`'s view: aligned labels, human times, every attempt with its times."""

from __future__ import annotations

import re

from kubetask.cli.describe import duration, span, task_detail, when
from kubetask.model import Attempt, QueueConfig, TaskState
from tests.factories import make_task

NOW = 1_714_564_800.0  # 2024-05-01 12:00:00 UTC


def fields_of(text: str) -> list[str]:
    """The `Label:  value` lines above the history."""
    head = text.split("\nHistory:", 1)[0]
    return [line for line in head.splitlines() if re.match(r"^[A-Z][A-Za-z ]*:", line)]


def test_labels_are_aligned_and_never_run_into_their_values() -> None:
    task = make_task(timeout_seconds=5.0, idempotency_key="invoice-7", created_at=NOW - 60)
    lines = fields_of(task_detail(task, namespace="default", now=NOW))
    columns = {re.match(r"^[^:]+:\s+", line).end() for line in lines}  # type: ignore[union-attr]
    assert len(columns) == 1, lines
    assert all(re.match(r"^[^:]+:\s{2,}\S", line) for line in lines), lines
    assert any(line.startswith("Timeout:") and line.endswith(" 5s") for line in lines)
    assert any(line.startswith("Idempotency key:") and line.endswith(" invoice-7")
               for line in lines)


def test_times_are_absolute_utc_and_relative() -> None:
    task = make_task(created_at=NOW - 192, state=TaskState.SUCCEEDED, started_at=NOW - 62.5,
                     finished_at=NOW - 61.25, attempts=1)
    text = task_detail(task, now=NOW)
    assert "Created:          2024-05-01 11:56:48 UTC (3m12s ago)" in text
    assert "Started:          2024-05-01 11:58:57 UTC (1m2s ago)" in text
    assert "Run time:         1.25s" in text
    later = make_task(created_at=NOW, run_at=NOW + 120)
    assert "(in 2m0s)" in task_detail(later, now=NOW)


def test_where_max_retries_come_from_is_spelled_out() -> None:
    own = task_detail(make_task(max_retries=5), now=NOW)
    queue = task_detail(make_task(), queue_config=QueueConfig(max_retries=1), now=NOW)
    worker = task_detail(make_task(), now=NOW)
    assert re.search(r"^Max retries:\s+5$", own, re.M)
    assert re.search(r"^Max retries:\s+1 \(queue default\)$", queue, re.M)
    assert re.search(r"^Max retries:\s+the worker's --max-retries \(default 3\)$", worker, re.M)


def test_each_attempt_has_its_number_worker_times_duration_outcome_and_error() -> None:
    history = (Attempt(1, "worker-1", 7, NOW - 100, NOW - 99.9, "failed", "ValueError: bad\nat x"),
               Attempt(2, "worker-2", 0, None, NOW - 50, "handed-back", "worker draining"))
    task = make_task(created_at=NOW - 200, state=TaskState.RUNNING, attempts=2,
                     worker="worker-1", started_at=NOW - 3, history=history)
    text = task_detail(task, now=NOW)
    rows = text.split("\nHistory:\n", 1)[1].splitlines()
    assert rows[0].split() == ["#", "WORKER", "STARTED", "ENDED", "DURATION", "OUTCOME", "ERROR"]
    assert re.match(r"^  1\s+worker-1\s+2024-05-01 11:58:20 UTC\s+2024-05-01 11:58:20 UTC\s+"
                    r"100ms\s+failed\s+ValueError: bad\.\.\.$", rows[1]), rows[1]
    assert re.match(r"^  2\s+worker-2\s+-\s+2024-05-01 11:59:10 UTC\s+-\s+handed-back\s+"
                    r"worker draining$", rows[2]), rows[2]
    # the attempt under way is the third, not yet in the stored history
    assert re.match(r"^  3\s+worker-1\s+2024-05-01 11:59:57 UTC\s+-\s+3.00s so far\s+running",
                    rows[3]), rows[3]
    assert re.search(r"^Attempts:\s+3 in all, 2 counting toward max retries$", text, re.M)


def test_a_task_without_attempts_says_so() -> None:
    assert re.search(r"^History:\s+<none>$", task_detail(make_task(), now=NOW), re.M)


def test_human_lengths_of_time() -> None:
    assert [span(s) for s in (0, 42, 192, 7500, 3 * 86400 + 4 * 3600)] == [
        "0s", "42s", "3m12s", "2h5m", "3d4h"]
    assert [duration(s) for s in (0.087, 1.254, 192)] == ["87ms", "1.25s", "3m12s"]
    assert when(None, NOW) == "<none>"
