"""A plain install, as a user makes it: a wheel of this tree, no extras, in a fresh venv.

Slow (a venv and an install of every dependency, from pip's cache where it can).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kubetask.etcd_process import free_port
from tests.conftest import ROOT

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


def run(args: list[str], env: dict[str, str], timeout: float, cwd: Path) -> str:
    result = subprocess.run(args, env=env, cwd=cwd, text=True, capture_output=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def wait_for(path: Path, text: str, timeout: float = 60) -> str:
    """Until `text` is in the file; fails at once when `kubetask dev` reports an exit."""
    content = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        if "exited" in content:
            break
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not seen in {path}:\n{content}")


@pytest.fixture
def plain_venv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh venv holding the wheel of this tree without extras; (its bin, env)."""
    source = tmp_path / "source"  # built from a copy: no build/ or egg-info in the tree
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("KUBETASK_")}
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                 str(tmp_path / "wheels"), str(source)], env, 300, tmp_path)
    assert "deprecat" not in built.lower(), built  # setuptools on a `project.license` table
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")], env, 120, tmp_path)
    bin_dir = tmp_path / "venv" / "bin"
    wheel = next((tmp_path / "wheels").glob("kubetask-*.whl"))
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], env, 400,
        tmp_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return bin_dir, env


@pytest.mark.timeout(900)
def test_kubetask_dev_runs_on_a_plain_install(tmp_path: Path,
                                               plain_venv: tuple[Path, dict[str, str]]) -> None:
    bin_dir, env = plain_venv
    where = run([str(bin_dir / "python"), "-c",
                 "import importlib.util as u, kubetask; print(kubetask.__file__); "
                 "print(u.find_spec('kopf'))"], env, 60, tmp_path)
    assert str(tmp_path / "venv") in where and "None" in where  # ours; no operator extra
    etcd_port, dashboard_port = free_port(), free_port()
    out = tmp_path / "dev.out"
    with open(out, "wb") as log:
        dev = subprocess.Popen(
            [str(bin_dir / "kubetask"), "dev", f"--etcd-port={etcd_port}",
             f"--dashboard-port={dashboard_port}", "--workers=1",
             "--data-dir", str(tmp_path / "data")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=tmp_path, start_new_session=True)
    try:
        wait_for(out, "workers 1")  # the scheduler and the worker run
        submitted = run([str(bin_dir / "kubetask"), "client", "--type=echo", "--count=3",
                         f"--etcd-endpoints=127.0.0.1:{etcd_port}", "--wait",
                         "--wait-timeout=60"], env, 90, tmp_path)
        assert "succeeded=3" in submitted
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/", timeout=10) as page:
            assert page.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/metrics",
                                    timeout=10) as metrics:
            assert b"kubetask_" in metrics.read()
        assert "exited" not in out.read_text()
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGINT)
        try:
            dev.wait(60)
        finally:
            if dev.poll() is None:
                os.killpg(dev.pid, signal.SIGKILL)
                dev.wait(10)
    assert dev.returncode == 0, out.read_text()
