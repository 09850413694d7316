"""The project's Kubernetes manifests (crds/, examples/) loaded for tests, and a small
checker of the OpenAPI subset the CRDs use (enough to validate the examples offline)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"
GROUP = "kubetask.io"
VERSION = "v1alpha1"


def load_all(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of one file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def crd(plural: str) -> dict[str, Any]:
    (doc,) = load_all(CRDS / f"{plural}.{GROUP}.yaml")
    return doc


def version(plural: str) -> dict[str, Any]:
    (v,) = crd(plural)["spec"]["versions"]
    return v


def schema(plural: str) -> dict[str, Any]:
    return version(plural)["schema"]["openAPIV3Schema"]


def example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.yaml"))


def examples(kind: str | None = None) -> Iterator[dict[str, Any]]:
    for path in example_files():
        for doc in load_all(path):
            if kind is None or doc.get("kind") == kind:
                yield doc


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (`.spec.worker.env[]`), the root first."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def violations(node: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """What an API server's OpenAPI check would refuse in `value` (CEL rules left out)."""
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return []
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: {value!r} is neither an integer nor a string"]
        return _scalar(node, value, path)
    kind = node.get("type")
    checker = _TYPES.get(kind)
    if checker is None or not checker(value):
        return [f"{path}: {value!r} is not of type {kind}"]
    if kind == "object":
        return _object(node, value, path)
    if kind == "array":
        return [v for i, item in enumerate(value) for v in violations(node["items"], item, f"{path}[{i}]")]
    return _scalar(node, value, path)


def _object(node: dict[str, Any], value: dict[str, Any], path: str) -> list[str]:
    found = [f"{path}.{name}: required" for name in node.get("required", ()) if name not in value]
    props = node.get("properties", {})
    extra = node.get("additionalProperties")
    for name, item in value.items():
        if name in props:
            found += violations(props[name], item, f"{path}.{name}")
        elif isinstance(extra, dict):
            found += violations(extra, item, f"{path}.{name}")
        elif path and not node.get("x-kubernetes-preserve-unknown-fields"):
            found.append(f"{path}.{name}: unknown field")
    return found


def _scalar(node: dict[str, Any], value: Any, path: str) -> list[str]:
    found = []
    if "enum" in node and value not in node["enum"]:
        found.append(f"{path}: {value!r} not in {node['enum']}")
    if isinstance(value, str):
        if "pattern" in node and not re.search(node["pattern"], value):
            found.append(f"{path}: {value!r} does not match {node['pattern']}")
        if len(value) > node.get("maxLength", len(value)) or len(value) < node.get("minLength", 0):
            found.append(f"{path}: length {len(value)} out of bounds")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and (value < low or (node.get("exclusiveMinimum") and value == low)):
            found.append(f"{path}: {value} below {low}")
        if high is not None and value > high:
            found.append(f"{path}: {value} above {high}")
    return found


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}
