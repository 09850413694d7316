"""Stats figures without I/O: the workers' end history, tallies, names of failed attempts."""

from __future__ import annotations

from kubetask.cli.stats import render
from kubetask.model import HISTORY_BUCKET_SECONDS, HISTORY_BUCKETS, Tally, WorkerInfo, id_floor
from kubetask.model.ids import new_task_id
from kubetask.web.openapi import SCHEMAS
from kubetask.worker.history import EndHistory


def test_end_history_counts_per_aligned_bucket_and_forgets_old_ones() -> None:
    history = EndHistory()
    history.note(1000.0, succeeded=True, failed=False)
    history.note(1004.9, succeeded=True, failed=False)
    history.note(1005.0, succeeded=False, failed=True)
    history.note(1006.0, succeeded=False, failed=False)  # cancelled: neither
    start, succeeded, failed = history.window(1007.0)
    assert len(succeeded) == len(failed) == HISTORY_BUCKETS
    assert start % HISTORY_BUCKET_SECONDS == 0 and start + HISTORY_BUCKETS * 5 > 1007.0
    assert (succeeded[-2:], failed[-2:]) == ((2, 0), (0, 1))
    later = 1007.0 + HISTORY_BUCKETS * HISTORY_BUCKET_SECONDS
    assert history.window(later)[1:] == ((0,) * HISTORY_BUCKETS, (0,) * HISTORY_BUCKETS)


def test_worker_info_and_tally_round_trip() -> None:
    info = WorkerInfo("w", "q", 4, history_start=100.0, succeeded_history=(1, 2),
                      failed_attempts_history=(0, 1))
    assert WorkerInfo.from_dict(info.to_dict()) == info
    # An older worker's record (with its own counts) still reads.
    assert WorkerInfo.from_dict({"id": "w", "queue": "q", "capacity": 4, "succeeded": 3,
                                 "failed": 1, "running": 2}) == WorkerInfo("w", "q", 4)
    tally = Tally(5, 2, since=99.5).plus(1, 1)
    assert Tally.from_dict(tally.to_dict()) == tally == Tally(6, 3, 99.5)


def test_id_floor_bounds_the_ids_created_from_then_on() -> None:
    before = id_floor(1_700_000_000.0)
    task_id = new_task_id()
    assert before <= task_id < id_floor(4_000_000_000.0)


def queue_stats(**overrides: object) -> dict[str, object]:
    worker = {"id": "w1", "state": "active", "running": 1, "capacity": 2, "weight": 1,
              "busy_slots": 1, "prefetched": 0, "prefetch": 8,
              "cpu_percent": 1.0, "memory_percent": 2.0, "succeeded": 5,
              "failed_attempts": 2, "counted_since": 1.0, "last_heartbeat": 2.0}
    return {"queue": "q", "revision": 42, "total": 9, "pending": 1, "running": 1,
            "orphaned": 0, "succeeded": 5, "retrying": 1, "dead": 1, "cancelled": 1,
            "failed_attempts": 3, "workers": 1, "leader": "s1", "worker_stats": [worker],
            **overrides}


def test_stats_table_shows_failed_attempts_apart_from_the_states() -> None:
    text = render([queue_stats()])
    queue_header, worker_header = [ln for ln in text.splitlines() if ln.startswith("QUEUE")]
    assert queue_header.split()[:9] == ["QUEUE", "TOTAL", "PENDING", "RUNNING", "SUCCEEDED",
                                        "RETRYING", "DEAD", "CANCELLED", "FAILED"]
    assert "FAILED ATTEMPTS" in queue_header and "FAILED ATTEMPTS" in worker_header
    assert "revision 42" in text and "since it started" in text
    assert "orphaned" not in text and "workers that left" not in text
    assert "2 running tasks of workers that left" in render([queue_stats(orphaned=2)])


def test_the_api_schema_names_failed_attempts_and_no_failed_count() -> None:
    for name in ("QueueStats", "WorkerStats"):
        properties = SCHEMAS[name]["properties"]
        assert "failed_attempts" in properties and "failed" not in properties
        assert "failed_attempts" in SCHEMAS[name]["required"]
    assert "failed" not in SCHEMAS["TaskState"]["enum"]
