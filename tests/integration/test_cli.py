"""Every `kubetask` command as a user runs it: real processes on the test etcd."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubetask.cli.connect import CONNECT_TIMEOUT
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.store import Store
from tests.conftest import ROOT, run_cli
from tests.harness import Proc

pytestmark = pytest.mark.etcd


@pytest.fixture
def processes(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(timeout=20)


def start(processes: list[Proc], tmp_path: Path, env: dict[str, str], *args: str) -> Proc:
    proc = Proc(list(args), env, tmp_path / f"{args[0]}-{len(processes)}.log")
    processes.append(proc)
    return proc


def revision(etcd: EtcdProcess) -> int:
    async def read() -> int:
        async with Store([etcd.endpoint]) as store:
            return await store.revision()
    return asyncio.run(read())


def test_seed_commands_run_tasks_end_to_end(tmp_path: Path, cli_env: dict[str, str],
                                            processes: list[Proc]) -> None:
    start(processes, tmp_path, cli_env, "scheduler", "--node-id=scheduler-1",
          "--queue=default", "--strategy=round_robin", "--log-level=info")
    for i in (1, 2):
        start(processes, tmp_path, cli_env, "worker", f"--node-id=worker-{i}",
              "--queue=default", "--max-concurrent=10", "--log-level=info")
    result = run_cli(["client", "--queue=default", "--type=echo", "--name=test-task",
                      "--priority=1", "--count=10", "--payload", '{"duration": 0.1}', "--wait"],
                     cli_env)
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 10 and len(set(ids)) == 10
    assert "succeeded=10" in result.stderr
    got = run_cli(["task", "get", ids[0], "--json"], cli_env)
    task = json.loads(got.stdout)
    for field in ("id", "name", "queue", "type", "priority", "state", "attempts", "worker",
                  "result", "error", "created_at", "started_at", "finished_at"):
        assert field in task
    assert (task["id"], task["name"], task["state"], task["attempts"]) == (
        ids[0], "test-task", "succeeded", 1)
    assert task["worker"] in ("worker-1", "worker-2")
    assert task["created_at"].endswith("Z") and task["finished_at"].endswith("Z")
    listed = json.loads(run_cli(["task", "list", "--queue", "default", "--state", "succeeded",
                                 "--json"], cli_env).stdout)
    assert sorted(t["id"] for t in listed) == sorted(ids)
    table = run_cli(["task", "list"], cli_env).stdout
    assert "test-task" in table and "succeeded" in table
    stats = json.loads(run_cli(["stats", "--json", "--queue", "default"], cli_env).stdout)
    assert (stats["queue"], stats["total"], stats["succeeded"], stats["pending"]) == (
        "default", 10, 10, 0)
    assert stats["workers"] == 2
    assert {w["id"] for w in stats["worker_stats"]} == {"worker-1", "worker-2"}
    for w in stats["worker_stats"]:
        assert {"running", "capacity", "cpu_percent", "memory_percent", "succeeded",
                "failed_attempts", "counted_since"} <= set(w)
        assert w["memory_percent"] > 0  # the worker process's own reading (psutil)
    text = run_cli(["stats"], cli_env).stdout
    assert "QUEUE" in text and "worker-1" in text
    # A queue name never used (a typo) is an error naming the queues there, not zeros.
    typo = run_cli(["stats", "--queue", "defualt"], cli_env)
    assert typo.returncode == 1 and typo.stdout == "", typo
    assert "no queue 'defualt' in namespace" in typo.stderr
    assert "(queues there: default)" in typo.stderr


def test_wait_exits_nonzero_when_a_task_ends_dead(tmp_path: Path, cli_env: dict[str, str],
                                                  processes: list[Proc]) -> None:
    start(processes, tmp_path, cli_env, "scheduler")
    start(processes, tmp_path, cli_env, "worker", "--retry-base=0.05")
    result = run_cli(["client", "--type=unknown-kind", "--max-retries=0", "--wait",
                      "--wait-timeout=30"], cli_env)
    assert result.returncode == 1
    assert "dead=1" in result.stderr


def test_waiting_that_times_out_is_one_line_and_exit_3(cli_env: dict[str, str]) -> None:
    """No worker runs: the task stays pending, both ways of waiting give up the same way."""
    task_id = run_cli(["client", "--name=never-run"], cli_env).stdout.strip()
    for argv in (["task", "wait", task_id, "--timeout=0.5"],
                 ["client", "--wait", "--wait-timeout=0.5"]):
        result = run_cli(argv, cli_env)
        assert result.returncode == 3, (argv, result.stderr)
        assert result.stderr.strip().splitlines()[-1] == "kubetask: gave up waiting after 0.5s"
        assert "Traceback" not in result.stderr, result.stderr


def test_worker_import_loads_a_user_executor(tmp_path: Path, cli_env: dict[str, str],
                                             processes: list[Proc]) -> None:
    start(processes, tmp_path, cli_env, "scheduler")
    start(processes, tmp_path, cli_env, "worker", "--import", "tests.integration.executors")
    result = run_cli(["client", "--type=greet", "--payload", '{"who": "seed"}', "--wait",
                      "--wait-timeout=30"], cli_env)
    assert result.returncode == 0, result.stderr
    got = json.loads(run_cli(["task", "get", result.stdout.strip(), "--json"], cli_env).stdout)
    assert got["result"] == {"greeting": "hello seed"}


def test_worker_import_of_a_missing_module_is_a_clear_error(cli_env: dict[str, str]) -> None:
    result = run_cli(["worker", "--import", "no_such_module_xyz"], cli_env)
    assert result.returncode == 2
    assert "no_such_module_xyz" in result.stderr and "Traceback" not in result.stderr


def test_task_cancel_and_retry_commands(tmp_path: Path, cli_env: dict[str, str],
                                        processes: list[Proc]) -> None:
    pending = run_cli(["client", "--type=echo"], cli_env).stdout.strip()
    out = run_cli(["task", "cancel", pending], cli_env)
    assert out.returncode == 0 and f"{pending} cancelled" in out.stdout
    again = run_cli(["task", "cancel", pending], cli_env)
    assert again.returncode == 1 and "already cancelled" in again.stderr
    start(processes, tmp_path, cli_env, "scheduler")
    start(processes, tmp_path, cli_env, "worker")
    dead = run_cli(["client", "--type=nothing-runs-this", "--max-retries=0", "--wait"],
                   cli_env).stdout.strip()
    listed = json.loads(run_cli(["task", "list", "--state", "dead", "--json"], cli_env).stdout)
    assert [t["id"] for t in listed] == [dead]
    retried = run_cli(["task", "retry", dead], cli_env)
    assert retried.returncode == 0 and f"{dead} pending" in retried.stdout
    waited = run_cli(["task", "wait", dead, "--timeout", "30"], cli_env)
    assert waited.returncode == 1 and f"{dead} dead" in waited.stdout


def test_task_get_reads_like_kubectl_describe_with_distinct_attempts_after_a_retry(
        tmp_path: Path, cli_env: dict[str, str], processes: list[Proc]) -> None:
    start(processes, tmp_path, cli_env, "scheduler")
    start(processes, tmp_path, cli_env, "worker", "--node-id=worker-1")
    dead = run_cli(["client", "--type=nothing-runs-this", "--max-retries=0", "--timeout=5",
                    "--wait"], cli_env).stdout.strip()
    assert run_cli(["task", "retry", dead], cli_env).returncode == 0
    assert run_cli(["task", "wait", dead, "--timeout", "30"], cli_env).returncode == 1
    text = run_cli(["task", "get", dead[:16]], cli_env).stdout
    head, history = text.split("\nHistory:\n")
    labels = [line for line in head.splitlines() if not line.startswith(" ")]
    # every value starts in one column, two spaces or more after the longest label
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in labels}
    assert len(columns) == 1, head
    assert re.search(r"^Timeout:\s+5s$", head, re.M)
    assert re.search(r"^Max retries:\s+0$", head, re.M)
    assert re.search(r"^Created:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+s ago\)$",
                     head, re.M)
    assert re.search(r"^Run time:\s+\d+(ms|\.\d\ds)$", head, re.M)
    rows = [line.split() for line in history.splitlines()]
    assert rows[0] == ["#", "WORKER", "STARTED", "ENDED", "DURATION", "OUTCOME", "ERROR"]
    assert [r[:2] for r in rows[1:]] == [["1", "worker-1"], ["2", "worker-1"]]
    for row in rows[1:]:
        assert row[4] == row[7] == "UTC" and re.fullmatch(r"\d+ms|\d+\.\d\ds", row[8])
        assert row[9] == "failed" and "no executor" in " ".join(row[10:])
    public = json.loads(run_cli(["task", "get", dead, "--json"], cli_env).stdout)
    assert [a["number"] for a in public["history"]] == [1, 2]


def test_idempotency_key_on_the_command_line(cli_env: dict[str, str]) -> None:
    first = run_cli(["client", "--idempotency-key=invoice-7"], cli_env).stdout
    second = run_cli(["client", "--idempotency-key=invoice-7"], cli_env).stdout
    assert first == second and len(first.split()) == 1


def test_count_submits_in_batches_and_prints_one_id_per_line(cli_env: dict[str, str],
                                                             etcd: EtcdProcess) -> None:
    before = revision(etcd)
    result = run_cli(["client", "--count=500", "--type=noop"], cli_env)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 500 and len(set(lines)) == 500
    # 500 tasks in far fewer than 500 transactions (each transaction is one revision)
    assert revision(etcd) - before < 50


@pytest.mark.parametrize("args,fragment", [
    (["--priority=7"], "invalid priority '7'"),
    (["--payload", "{not json"], "--payload is not valid JSON"),
    (["--queue", "a/b"], "contains '/'"),
    (["--queue", "a\x01b"], "characters outside"),
    (["--name", "x/y"], "contains '/'"),
    (["--type", ".."], "'..'"),
    (["--count=0"], "--count"),
    (["--payload", "@tests/integration/no-such-file.json"], "cannot read the file"),
    (["--retry-base=10", "--retry-cap=5"], "retry cap (5s) must not be shorter than the retry"),
    (["--wait-timeout=5"], "--wait-timeout needs --wait"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        args: list[str], fragment: str, cli_env: dict[str, str], etcd: EtcdProcess) -> None:
    before = revision(etcd)
    result = run_cli(["client", *args], cli_env)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    assert revision(etcd) == before


def test_queue_set_show_reset_and_a_worker_obeys_it(tmp_path: Path, cli_env: dict[str, str],
                                                   processes: list[Proc]) -> None:
    shown = json.loads(run_cli(["queue", "set", "default", "--max-retries=1",
                                "--retry-base=0.01"], cli_env).stdout)
    assert shown == {"queue": "default", "max_retries": 1, "retry_base_seconds": 0.01}
    run_cli(["queue", "set", "default", "--retry-cap=2"], cli_env)  # merges
    got = json.loads(run_cli(["queue", "show", "default", "--json"], cli_env).stdout)
    assert got == {**shown, "retry_cap_seconds": 2.0}
    stats = json.loads(run_cli(["stats", "--json", "--queue", "default"], cli_env).stdout)
    assert stats["config"] == {k: v for k, v in got.items() if k != "queue"}
    table = run_cli(["queue", "show"], cli_env).stdout
    assert "MAX-RETRIES" in table and "default" in table
    start(processes, tmp_path, cli_env, "scheduler")
    start(processes, tmp_path, cli_env, "worker")
    task_id = run_cli(["client", "--type=unreliable", "--wait", "--wait-timeout=30"],
                      cli_env).stdout.strip()
    task = json.loads(run_cli(["task", "get", task_id, "--json"], cli_env).stdout)
    # unreliable succeeds on attempt 3; the queue allows 2 attempts
    assert (task["state"], task["attempts"], task["max_retries"]) == ("dead", 2, None)
    assert "queue default" in run_cli(["task", "get", task_id], cli_env).stdout
    run_cli(["queue", "reset", "default"], cli_env)
    assert json.loads(run_cli(["queue", "show", "default", "--json"], cli_env).stdout) == {
        "queue": "default"}


@pytest.mark.parametrize("args,fragment", [
    (["--max-retries=-1"], "--max-retries"),
    (["--retry-base=5", "--retry-cap=1"], "must not be shorter"),
    ([], "give at least one of"),
])
def test_queue_set_refuses_bad_values_and_writes_nothing(
        args: list[str], fragment: str, cli_env: dict[str, str], etcd: EtcdProcess) -> None:
    before = revision(etcd)
    result = run_cli(["queue", "set", "default", *args], cli_env)
    assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert revision(etcd) == before


def test_oversized_payload_from_a_file_is_refused(tmp_path: Path, cli_env: dict[str, str],
                                                   etcd: EtcdProcess) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 200_000}))
    before = revision(etcd)
    result = run_cli(["client", "--payload", f"@{big}"], cli_env)
    assert result.returncode == 2 and "limit is 131072 bytes" in result.stderr
    assert revision(etcd) == before


def test_nul_in_a_name_is_refused(cli_env: dict[str, str], etcd: EtcdProcess) -> None:
    # argv cannot carry NUL bytes, so the variable form is the way to send one.
    before = revision(etcd)
    result = run_cli(["client", "--queue", "ok"], {**cli_env, "KUBETASK_TYPE": "a\x01"})
    assert result.returncode == 2 and revision(etcd) == before


def test_environment_variables_set_flags(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KUBETASK_QUEUE": "from-env"}
    task_id = run_cli(["client"], env).stdout.strip()
    got = json.loads(run_cli(["task", "get", task_id, "--json"], env).stdout)
    assert got["queue"] == "from-env"


def test_unknown_task_id_is_a_one_line_error(cli_env: dict[str, str]) -> None:
    result = run_cli(["task", "get", "0123456789abcdef01234567"], cli_env)
    assert result.returncode == 1
    assert result.stderr.strip() == "kubetask: error: no task '0123456789abcdef01234567' in " \
        f"namespace '{cli_env['KUBETASK_NAMESPACE']}'"
    result = run_cli(["task", "get", "nope"], cli_env)
    assert result.returncode == 2
    assert result.stderr.strip() == "kubetask: error: task id 'nope' is not hexadecimal: " \
        "task ids are 24 characters of 0-9 and a-f"


def test_unreachable_etcd_is_reported_not_a_traceback(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KUBETASK_ETCD_ENDPOINTS": "127.0.0.1:1"}
    started = time.monotonic()
    result = run_cli(["stats"], env, timeout=30)
    assert result.returncode == 1
    assert "cannot reach etcd" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 25


def test_one_shot_commands_give_up_after_the_short_connect_timeout(
        cli_env: dict[str, str]) -> None:
    """Nothing listens on the endpoint: the one-line error names the connect timeout the
    one-shot commands use (CONNECT_TIMEOUT, not the patient 5 s of every call)."""
    endpoint = f"127.0.0.1:{free_port()}"
    env = {**cli_env, "KUBETASK_ETCD_ENDPOINTS": endpoint}
    for args in (["stats"], ["task", "list"], ["client", "--type=echo"], ["queue", "show"]):
        result = run_cli(args, env, timeout=30)
        assert result.returncode == 1, args
        assert result.stderr == (f"kubetask: error: cannot reach etcd: no connection within "
                                 f"{CONNECT_TIMEOUT:g}s to {endpoint}; is etcd running there?\n")


def test_help_lists_the_seed_flags() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for command, flags in {
        "scheduler": ["--node-id", "--etcd-endpoints", "--queue", "--strategy", "--log-level"],
        "worker": ["--node-id", "--etcd-endpoints", "--queue", "--max-concurrent",
                   "--log-level", "--weight", "--import"],
        "client": ["--etcd-endpoints", "--queue", "--type", "--name", "--priority", "--count",
                   "--payload", "--max-retries", "--timeout", "--wait"],
    }.items():
        text = run_cli([command, "--help"], env).stdout
        for flag in flags:
            assert flag in text, (command, flag)
