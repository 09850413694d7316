"""`kubetask dev`: the embedded local system, tried as a new user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubetask.etcd_process import free_port
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
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(60)
    assert dev.returncode == 0
    text = out.read_text()
    assert "stopped." in text and "killing" not in text
    # every child is gone: the etcd port is free again
    assert run_cli(["stats"], {**env, "KUBETASK_ETCD_ENDPOINTS": f"127.0.0.1:{port}"},
                   timeout=30).returncode == 1


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
