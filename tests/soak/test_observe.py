"""The soak test's log scan finds what it must (a scan that finds nothing proves nothing)."""

from __future__ import annotations

from pathlib import Path

from tests.soak.observe import log_problems


def test_log_scan_finds_warnings_and_errors_of_every_process(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text("\n".join([
        "05:17:20 INFO    scheduler-1 kubetask.scheduler.janitor: deleted 52 tasks",
        "05:17:21 WARNING scheduler-1 kubetask.scheduler.janitor: janitor of default: ...",
        "05:17:22 ERROR   worker-1 kubetask.store.lease: worker lease 1f lost",
        "Traceback (most recent call last):",
        '{"level":"info","msg":"ready to serve client requests"}',
        '{"level":"warn","msg":"failed to apply request","error":"lease not found"}',
        '{"level":"warn","msg":"simple token is not cryptographically signed"}',
        "WARNING: 2026/11/29 05:17:23 [core] grpc: addrConn.createTransport failed",
        "05:17:23 INFO    worker-1 kubetask.worker.runtime: task t: ERROR in payload",
    ]) + "\n")
    assert [line[:20] for line in log_problems(log)] == [
        "05:17:21 WARNING sch", "05:17:22 ERROR   wor", "Traceback (most rece",
        '{"level":"warn","msg', "WARNING: 2026/11/29 "]
    assert log_problems(tmp_path / "absent.log") == []
