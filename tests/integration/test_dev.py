"""`kubetask dev`: the embedded local system, tried as a new user would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from kubetask.client import AsyncClient
from kubetask.etcd_process import free_port, port_in_use
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.etcd


def wait_for(path: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen in {path} within {timeout}s:\n{content}")


def test_dev_runs_the_system_and_the_seed_client_works(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "dev.out"
    with open(out, "wb") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "kubetask", "dev", f"--etcd-port={port}", "--workers=2",
             f"--dashboard-port={free_port()}", "--data-dir", str(tmp_path / "data")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for(out, "Submitted")
        client_env = {**env, "KUBETASK_ETCD_ENDPOINTS": f"localhost:{port}"}
        result = run_cli(["client", "--queue=default", "--type=echo", "--name=test-task",
                          "--priority=1", "--count=10", "--wait", "--wait-timeout=60"],
                         client_env)
        assert result.returncode == 0, result.stderr
        assert "succeeded=10" in result.stderr
        content = wait_for(out, "dead 1")  # the demo's unknown-type task ends dead
        assert f"127.0.0.1:{port}" in content
        assert "worker-1, worker-2" in content
        # Each process's /metrics is named and answers (the line listed two bare URLs, "...").
        urls = dict(re.findall(r"(scheduler-1|worker-\d) (http://127\.0\.0\.1:\d+/metrics)",
                               content))
        assert sorted(urls) == ["scheduler-1", "worker-1", "worker-2"], content
        for url in urls.values():
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert b"kubetask_" in answer.read()
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(60)
    assert dev.returncode == 0
    text = out.read_text()
    assert "stopped." in text and "killing" not in text
    assert "workers finish" in text and "running tasks for at most 10s" in text
    # every child is gone: the etcd port is free again
    assert run_cli(["stats"], {**env, "KUBETASK_ETCD_ENDPOINTS": f"127.0.0.1:{port}"},
                   timeout=30).returncode == 1


def test_the_progress_line_counts_a_draining_worker(tmp_path: Path) -> None:
    """As the dashboard and `kubetask stats` show it: 'workers 2 (1 draining)'."""
    out = tmp_path / "dev.out"
    dev, etcd_port, _ = start_dev(tmp_path, out, "--no-demo")
    try:
        wait_for(out, "Ctrl-C stops everything")
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "KUBETASK_ETCD_ENDPOINTS": f"127.0.0.1:{etcd_port}"}
        assert run_cli(["client", "--type=noop", "--wait", "--wait-timeout=30"],
                       env).returncode == 0  # a queue the line reports
        wait_for(out, "workers 2")

        async def drain() -> bool:
            async with AsyncClient(f"127.0.0.1:{etcd_port}") as client:
                return await client.drain_worker("default", "worker-2")

        assert asyncio.run(drain())
        wait_for(out, "workers 2 (1 draining)")
    finally:
        assert stop_dev(dev) == 0


def test_dev_refuses_a_port_in_use_with_a_clear_error(tmp_path: Path) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_cli(["dev", f"--etcd-port={port}", "--data-dir", str(tmp_path)],
                         {**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def start_dev(tmp_path: Path, out: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """`kubetask dev` on free ports, its output in `out`; (process, etcd port, dashboard port)."""
    etcd_port, dashboard_port = free_port(), free_port()
    with open(out, "wb") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "kubetask", "dev", f"--etcd-port={etcd_port}",
             f"--dashboard-port={dashboard_port}", "--workers=2",
             "--data-dir", str(tmp_path / "data"), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    return dev, etcd_port, dashboard_port


def assert_children_gone(children: list[psutil.Process], ports: list[int]) -> None:
    """Every child ends within a bounded wait and frees its port; survivors are killed."""
    _, alive = psutil.wait_procs(children, timeout=30)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert not alive, f"children left running: {[p.pid for p in alive]}"
    assert not [p for p in ports if port_in_use(p)], "a port is still taken"


def test_kill_9_of_dev_leaves_no_child_and_no_taken_port(tmp_path: Path) -> None:
    out = tmp_path / "dev.out"
    dev, etcd_port, dashboard_port = start_dev(tmp_path, out)
    try:
        wait_for(out, "Submitted")
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) == 5, children  # etcd, scheduler, 2 workers, dashboard
    finally:
        dev.kill()
        dev.wait(10)
    assert_children_gone(children, [etcd_port, dashboard_port])


def test_a_broken_stdout_pipe_stops_dev_and_its_children(tmp_path: Path) -> None:
    """`kubetask dev | head -1`: dev's output closes; dev stops every child, then exits."""
    etcd_port, dashboard_port = free_port(), free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "kubetask", "dev", f"--etcd-port={etcd_port}",
         f"--dashboard-port={dashboard_port}", "--workers=2",
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        assert dev.stdout is not None
        deadline = time.monotonic() + 30
        while len(children) < 5 and time.monotonic() < deadline:  # every child started
            time.sleep(0.2)
            children = psutil.Process(dev.pid).children(recursive=True)
        assert dev.stdout.readline()  # like `head -1`: one line, then the pipe closes
        dev.stdout.close()
        dev.wait(60)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait(10)
    assert_children_gone(children, [etcd_port, dashboard_port])


def stop_dev(dev: subprocess.Popen[bytes]) -> int:
    if dev.poll() is None:
        os.killpg(dev.pid, signal.SIGINT)
    try:
        return dev.wait(60)
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(10)


def test_a_child_that_exits_is_named_with_its_exit_code_and_log(tmp_path: Path) -> None:
    out = tmp_path / "dev.out"
    dev, _, _ = start_dev(tmp_path, out)
    try:
        wait_for(out, "workers 2")  # both workers registered
        worker = next(p for p in psutil.Process(dev.pid).children()
                      if "worker-1" in p.cmdline())
        last_line = (tmp_path / "data" / "logs" / "worker-1.log").read_text().splitlines()[-1]
        worker.kill()
        assert dev.wait(60) == 1  # dev stops every other child and says why
    finally:
        stop_dev(dev)
    text = out.read_text()
    assert "kubetask dev: worker-1 exited early (killed by SIGKILL); the last lines of " \
        f"{tmp_path / 'data' / 'logs' / 'worker-1.log'}:" in text
    assert f"  | {last_line}" in text
    assert "stopped." in text


def test_dev_refuses_a_dashboard_port_in_use_and_starts_nothing(tmp_path: Path) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_cli(["dev", f"--etcd-port={free_port()}", f"--dashboard-port={port}",
                          "--data-dir", str(tmp_path / "data")],
                         {**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)
    assert result.returncode == 1, result.stdout
    assert f"port {port} on 127.0.0.1 is already in use (wanted by the dashboard)" \
        in result.stderr
    assert "pass --dashboard-port N" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_demo_goes_into_a_fresh_data_dir_only_and_fresh_starts_over(tmp_path: Path) -> None:
    """A restart keeps the tasks and adds no demo; --fresh throws the old data away."""
    lines = {}
    for run, args in enumerate([(), (), ("--fresh",)]):
        out = tmp_path / f"dev{run}.out"
        dev, _, _ = start_dev(tmp_path, out, "--workers=0", *args)
        try:
            wait_for(out, "pending 21 ")  # no worker: the demo stays pending
        finally:
            assert stop_dev(dev) == 0
        lines[run] = out.read_text()
    assert "Submitted 21 demo tasks" in lines[0] and "kept across runs" in lines[0]
    # The hint to start over names this data dir (a bare --fresh would use the default one).
    assert f"dev --data-dir {tmp_path / 'data'} --fresh`" in lines[0], lines[0]
    assert "workers       none (--workers 0): tasks wait until a worker joins" in lines[0]
    assert "Submitted" not in lines[1] and "kept from an earlier run" in lines[1]
    assert "pending 42" not in lines[1]
    assert "Submitted 21 demo tasks" in lines[2] and "pending 42" not in lines[2]


def test_fresh_refuses_a_folder_dev_did_not_make_and_leaves_it_alone(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    keep = tmp_path / "data" / "thesis.tex"
    keep.write_text("precious")
    result = run_cli(["dev", "--fresh", f"--etcd-port={free_port()}",
                      f"--dashboard-port={free_port()}", "--data-dir", str(tmp_path / "data")],
                     {**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)
    assert result.returncode == 1
    assert "holds files kubetask dev did not write (thesis.tex)" in result.stderr
    assert keep.read_text() == "precious"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["thesis.tex"]
