"""Static checks of crds/ and examples/ (no API server; only this repository's own files are
read): the files parse, the schemas are structural where that can be checked offline, the
examples validate against them, and the CRDs speak the engine's vocabulary and bounds."""

from __future__ import annotations

from typing import Any

import pytest

from kubetask.model import Priority, TaskState
from kubetask.model.validation import (
    MAX_BACKOFF_SECONDS,
    MAX_NAME_LENGTH,
    MAX_PREFETCH,
    MAX_PREFETCH_HOLD_SECONDS,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    NAME_RE,
    validate_name,
)
from kubetask.operator.mapping import INVALID_PHASE
from kubetask.operator.scaling import ScalingPolicy
from kubetask.scheduler.strategies import STRATEGIES
from kubetask.worker.executors.builtins import BUILTINS
from tests.manifests import (
    EXAMPLES,
    GROUP,
    VERSION,
    crd,
    example_files,
    examples,
    load_all,
    schema,
    version,
    violations,
    walk,
)

PLURALS = ("tasks", "taskqueues")
JUNCTORS = ("anyOf", "allOf", "oneOf", "not")
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


@pytest.mark.parametrize("plural", PLURALS)
def test_crd_names_group_version_and_scope(plural: str) -> None:
    doc = crd(plural)
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["metadata"]["name"] == f"{plural}.{GROUP}"
    spec = doc["spec"]
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"]["plural"] == plural
    assert spec["names"]["shortNames"] == [{"tasks": "kt", "taskqueues": "ktq"}[plural]]
    assert spec["names"]["categories"] == ["kubetask"]
    v = version(plural)
    assert (v["name"], v["served"], v["storage"]) == (VERSION, True, True)
    assert v["subresources"] == {"status": {}}


@pytest.mark.parametrize("plural", PLURALS)
def test_every_schema_node_is_structural(plural: str) -> None:
    """Each node has a type (or preserves unknown fields / is int-or-string), and logical
    junctors carry no type, default or description but for the int-or-string pattern."""
    for path, node in walk(schema(plural)):
        if not (node.get("x-kubernetes-preserve-unknown-fields")
                or node.get("x-kubernetes-int-or-string")):
            assert node.get("type") in {"object", "array", "string", "integer", "number",
                                        "boolean"}, f"{plural} {path or '<root>'} has no type"
        for junctor in JUNCTORS:
            if junctor not in node:
                continue
            assert node.get("x-kubernetes-int-or-string") and node[junctor] == INT_OR_STRING, (
                f"{plural} {path}: {junctor} is only allowed as the int-or-string pattern")
        if node.get("type") == "array":
            assert isinstance(node.get("items"), dict), f"{plural} {path}: array without items"


@pytest.mark.parametrize("plural", PLURALS)
def test_every_default_validates_against_its_own_node(plural: str) -> None:
    for path, node in walk(schema(plural)):
        if "default" in node:
            assert violations(node, node["default"], path) == [], f"{plural} {path} default"


@pytest.mark.parametrize("plural", PLURALS)
def test_list_map_keys_are_required_in_their_items(plural: str) -> None:
    for path, node in walk(schema(plural)):
        for key in node.get("x-kubernetes-list-map-keys", ()):
            assert key in node["items"].get("required", ()), f"{plural} {path}[].{key}"


@pytest.mark.parametrize(("plural", "columns"), [
    ("tasks", ["Queue", "Type", "Priority", "Phase", "Attempts", "Worker", "Age"]),
    ("taskqueues", ["Strategy", "Pending", "Running", "Succeeded", "Dead", "Failed Attempts",
                    "Workers", "Replicas", "Age"]),
])
def test_printer_columns_point_at_schema_fields(plural: str, columns: list[str]) -> None:
    printer = version(plural)["additionalPrinterColumns"]
    assert [c["name"] for c in printer] == columns
    paths = {path: node for path, node in walk(schema(plural))}
    for column in printer:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        node = paths[column["jsonPath"]]
        assert column["type"] == node.get("type", "string"), column


@pytest.mark.parametrize("plural", PLURALS)
def test_every_spec_and_status_field_is_described(plural: str) -> None:
    """`kubectl explain` prints these descriptions: none is missing, and each one of a field
    with a default names it (explain does not show defaults)."""
    for path, node in walk(schema(plural)):
        if not path.startswith((".spec", ".status")):
            continue
        text = " ".join(str(node.get("description", "")).split())
        assert text, f"{plural} {path} has no description (kubectl explain shows none)"
        default = node.get("default")
        if default is not None and not isinstance(default, dict):
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert f"Default: {shown}." in text, f"{plural} {path}: say 'Default: {shown}.'"


FOREIGN_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}


def test_every_example_parses_and_validates_against_its_crd() -> None:
    plural = {"Task": "tasks", "TaskQueue": "taskqueues"}
    files = example_files()
    assert files, "no examples"
    for path in files:
        docs = load_all(path)
        assert docs, f"{path} is empty"
        for doc in docs:
            if (doc["apiVersion"], doc["kind"]) in FOREIGN_KINDS:
                continue  # another project's resource (examples/keda): not ours to check
            assert doc["apiVersion"] == f"{GROUP}/{VERSION}", path
            body = {k: v for k, v in doc.items() if k != "metadata"}
            assert violations(schema(plural[doc["kind"]]), body) == [], path
            validate_name("example", doc["metadata"]["name"])


def test_examples_cover_every_builtin_type_every_priority_and_an_unknown_type() -> None:
    specs = [t["spec"] for t in examples("Task")]
    builtin = {cls.type for cls in BUILTINS} - {"noop"}  # noop is for benchmarks
    assert builtin <= {s["type"] for s in specs}
    assert {Priority.parse(s.get("priority", "normal")) for s in specs} == set(Priority)
    custom = {"wordcount"}
    assert [s["type"] for s in specs if s["type"] not in builtin | custom] == ["no-such-type"]
    queues = {q["metadata"]["name"] for q in examples("TaskQueue")}
    assert {s.get("queue", "default") for s in specs} <= queues


def test_name_fields_use_the_engine_name_rule() -> None:
    spec = schema("tasks")["properties"]["spec"]["properties"]
    for field in ("type", "queue"):
        node = spec[field]
        assert (node["pattern"], node["maxLength"]) == (NAME_RE.pattern, MAX_NAME_LENGTH)
        assert "contains('..')" in node["x-kubernetes-validations"][0]["rule"]


def test_bounds_match_the_engine() -> None:
    task = schema("tasks")["properties"]["spec"]["properties"]
    queue = schema("taskqueues")["properties"]["spec"]["properties"]
    retry = queue["retry"]["properties"]
    for node in (task["maxRetries"], retry["maxRetries"]):
        assert (node["minimum"], node["maximum"]) == (0, MAX_RETRIES)  # validate_max_retries
    timeout = task["timeoutSeconds"]
    assert (timeout["minimum"], timeout["exclusiveMinimum"], timeout["maximum"]) == (
        0, True, MAX_TIMEOUT_SECONDS)  # validate_timeout
    for plural in PLURALS:
        rules = [r["rule"] for r in schema(plural)["x-kubernetes-validations"]]
        assert f"size(self.metadata.name) <= {MAX_NAME_LENGTH}" in rules
    for name in ("backoffBaseSeconds", "backoffCapSeconds"):
        assert (retry[name]["minimum"], retry[name]["maximum"]) == (0, MAX_BACKOFF_SECONDS)
    assert queue["strategy"]["enum"] == list(STRATEGIES)
    worker = queue["worker"]["properties"]
    assert (worker["maxConcurrent"]["minimum"], worker["maxConcurrent"]["maximum"]) == (1, 10_000)
    assert (worker["weight"]["minimum"], worker["weight"]["maximum"]) == (1, 1000)
    assert (worker["prefetch"]["minimum"], worker["prefetch"]["maximum"]) == (
        0, MAX_PREFETCH)  # validate_prefetch
    hold = worker["prefetchHoldSeconds"]  # validate_prefetch_hold: (0, a minute]
    assert (hold["minimum"], hold["exclusiveMinimum"], hold["maximum"]) == (
        0, True, MAX_PREFETCH_HOLD_SECONDS)
    shutdown = worker["shutdownTimeoutSeconds"]
    assert (shutdown["minimum"], shutdown["maximum"]) == (0, 3600)


def test_task_phases_are_the_engine_states_and_invalid() -> None:
    phase = schema("tasks")["properties"]["status"]["properties"]["phase"]
    assert phase["enum"] == [*(s.value.capitalize() for s in _ordered_states()), INVALID_PHASE]


def test_queue_status_counts_failed_attempts_not_a_state() -> None:
    status: dict[str, Any] = schema("taskqueues")["properties"]["status"]["properties"]
    assert "failedAttempts" in status
    assert "failed" not in status
    assert "failed" not in {s.value for s in TaskState}


def _ordered_states() -> list[TaskState]:
    order = ["pending", "assigned", "running", "retrying", "succeeded", "dead", "cancelled"]
    assert set(order) == {s.value for s in TaskState}
    return [TaskState(s) for s in order]


def test_scaling_defaults_are_the_autoscalers() -> None:
    scaling = schema("taskqueues")["properties"]["spec"]["properties"]["scaling"]["properties"]
    defaults = {name: node["default"] for name, node in scaling.items()}
    worker = schema("taskqueues")["properties"]["spec"]["properties"]["worker"]["properties"]
    assert ScalingPolicy.of({"scaling": defaults, "worker": {
        "maxConcurrent": worker["maxConcurrent"]["default"]}}) == ScalingPolicy()
    assert scaling["targetUtilization"]["exclusiveMinimum"] is True


def test_the_keda_example_scales_the_deployment_of_a_queue_the_operator_leaves_alone() -> None:
    docs = load_all(EXAMPLES / "keda" / "scaledobject.yaml")
    queue = next(d for d in docs if d["kind"] == "TaskQueue")
    scaled = next(d for d in docs if d["kind"] == "ScaledObject")
    assert queue["spec"]["scaling"]["enabled"] is False
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{queue['metadata']['name']}-workers"
    (trigger,) = scaled["spec"]["triggers"]
    assert f'queue="{queue["metadata"]["name"]}"' in trigger["metadata"]["query"]
    assert "kubetask_queue_tasks" in trigger["metadata"]["query"]  # a metric kubetask serves
