"""A task cannot make a worker import or run code: its type and payload are data. A task
whose type or payload names a module (os, or one with an import side effect) imports
nothing and ends dead with "no executor"."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from kubetask.client import AsyncClient
from kubetask.model import TaskState
from tests.harness import InProcessSystem

pytestmark = pytest.mark.etcd


async def test_a_task_naming_a_module_imports_nothing(
        system: InProcessSystem, client: AsyncClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    trap = f"kt_trap_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported"
    (tmp_path / f"{trap}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "def run(*args, **kwargs):\n    return 'ran'\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, were anything to import it
    await system.scheduler()
    await system.worker()
    naming = {"module": trap, "import": trap, "executor": f"{trap}.run",
              "callable": "os.system", "args": [f"touch {marker}"]}
    tasks = [await client.submit(type_, naming, max_retries=3)
             for type_ in (trap, f"{trap}.run", "os", "os.system", "builtins.eval",
                           "subprocess")]
    done = await client.wait([t.id for t in tasks], timeout=30)
    for task in done:
        assert task.state is TaskState.DEAD, task
        assert f"no executor for task type {task.type!r}" in (task.error or "")
    assert not marker.exists()
    assert trap not in sys.modules
