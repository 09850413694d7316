"""`helm uninstall` as the README says (Tasks and TaskQueues deleted first, while the operator
runs): the release's objects go; the CRDs, the etcd volumes' claims and the generated TLS
Secrets stay, as documented. Runs last in the tier (the file sorts last): it removes the
release the other tests use."""

from __future__ import annotations

from tests.e2e.deploy import ETCD, ETCD_MEMBERS, RELEASE, Deployment
from tests.e2e.kube import Kube, wait_for

RELEASE_KINDS = ("deployments,statefulsets,services,serviceaccounts,roles,rolebindings,"
                 "poddisruptionbudgets,configmaps")


def test_helm_uninstall_removes_the_release_and_keeps_what_the_docs_say(
        kube: Kube, kubetask: Deployment) -> None:
    namespace = kubetask.namespace
    kube.kubectl("delete", "tasks,taskqueues", "--all", "-n", namespace, "--wait=true",
                 "--timeout=90s", timeout=100)
    kube.helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", "120s",
              timeout=150)
    selector = f"app.kubernetes.io/instance={RELEASE}"
    left = kube.kubectl("get", RELEASE_KINDS, "-n", namespace, "-l", selector, "-o", "name")
    assert not left.strip(), left
    assert not kube.kubectl("get", "clusterroles,clusterrolebindings", "-l", selector,
                            "-o", "name").strip()
    wait_for("no pods left", lambda: not kube.items("pods", namespace), timeout=120)
    # Kept on purpose (README "Uninstall").
    kube.kubectl("get", "crd", "tasks.kubetask.io", "taskqueues.kubetask.io")
    kube.kubectl("get", "secret", f"{ETCD}-tls", f"{ETCD}-client-tls", "-n", namespace)
    claims = {c["metadata"]["name"] for c in kube.items("pvc", namespace)}
    assert claims == {f"data-{ETCD}-{i}" for i in range(ETCD_MEMBERS)}, claims
