"""No code from data: a scan of kubetask's own source (files only, nothing run) for the ways
data becomes code. Payloads and results are JSON; the only dynamic import is the worker's
--import, whose module names come from the worker's own command line."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "kubetask"

FORBIDDEN = re.compile(
    r"\bimport pickle\b|\bpickle\.|\bcPickle\b|\bdill\b|\bjsonpickle\b|\bmarshal\.loads?\b"
    r"|\bshelve\b|\byaml\.load\(|\byaml\.unsafe_load|\byaml\.full_load|\bUnsafeLoader\b"
    r"|(?<![.\w])eval\(|(?<![.\w])exec\(|\b__import__\(")
IMPORTERS = {"worker/executors/registry.py"}  # ExecutorRegistry.load_module: --import only


def sources() -> list[tuple[str, str]]:
    return [(str(p.relative_to(SRC)), p.read_text()) for p in sorted(SRC.rglob("*.py"))]


def test_nothing_unpickles_evals_or_yaml_loads() -> None:
    found = [f"{path}: {m.group(0)}" for path, text in sources()
             for m in FORBIDDEN.finditer(text)]
    assert found == []


def test_only_the_executor_registry_imports_by_name() -> None:
    importers = {path for path, text in sources()
                 if re.search(r"\bimport_module\(|\bimportlib\.util\b|\bspec_from", text)}
    assert importers == IMPORTERS


def test_load_modules_is_fed_only_by_the_worker_command_line() -> None:
    callers = {path for path, text in sources() if re.search(r"\.load_modules?\(", text)}
    assert callers <= {"cli/processes.py", *IMPORTERS}, callers
