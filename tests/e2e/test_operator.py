"""The operator and its workers as real pods on a real cluster."""

from __future__ import annotations

from tests.e2e.deploy import Deployment, operator_pod
from tests.e2e.kube import Kube


def test_operator_pod_runs_with_its_service_account(kube: Kube, kubetask: Deployment) -> None:
    pod = operator_pod(kube, kubetask.namespace)
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["serviceAccountName"] == "kubetask-operator"
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] and status["restartCount"] == 0, status
