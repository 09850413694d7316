"""`helm upgrade` of the release to changed values: the operator rolls out with the new log
level, the default TaskQueue gets the new maxReplicas."""

from __future__ import annotations

import json

from tests.e2e.deploy import CHART, DEPLOY_TIMEOUT, OPERATOR, RELEASE, Deployment, operator_pod
from tests.e2e.kube import Kube, wait_for
from tests.e2e.workload import running_ready


def log_level(pod: dict) -> str:
    (container,) = pod["spec"]["containers"]
    return next(e["value"] for e in container["env"] if e["name"] == "KUBETASK_LOG_LEVEL")


def test_helm_upgrade_to_new_values(kube: Kube, kubetask: Deployment) -> None:
    namespace = kubetask.namespace
    before = operator_pod(kube, namespace)
    assert log_level(before) == "info"
    kube.helm("upgrade", RELEASE, str(CHART), "--namespace", namespace, "--reuse-values",
              "--set", "operator.logLevel=debug",
              "--set", "defaultTaskQueue.spec.scaling.maxReplicas=3",
              "--wait", "--timeout", f"{DEPLOY_TIMEOUT}s", timeout=DEPLOY_TIMEOUT + 30)

    def rolled() -> dict | None:
        pods = kube.items("pods", namespace, "app.kubernetes.io/name=kubetask-operator")
        return pods[0] if len(pods) == 1 and running_ready(pods[0]) else None
    after = wait_for("one operator pod, the new one, Ready", rolled, timeout=120)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert log_level(after) == "debug"
    assert log_level(kube.get("deployment", namespace, OPERATOR)["spec"]["template"]) == "debug"
    queue = kube.get("taskqueue", namespace, "default")
    assert queue["spec"]["scaling"]["maxReplicas"] == 3
    history = json.loads(kube.helm("history", RELEASE, "--namespace", namespace, "-o", "json"))
    assert [(r["revision"], r["status"]) for r in history][-1] == (2, "deployed"), history
