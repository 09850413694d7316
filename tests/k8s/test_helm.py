"""The Helm chart (helm/kubetask) on the real control plane: helm lint, every rendered object
accepted by kube-apiserver (server-side dry-run), values.schema.json refusing bad values, the
chart's CRDs and dashboard the repository's files, and least-privilege RBAC: the operator run
as the chart's ServiceAccount does its whole job with the chart's rules, and every rule shows
up in the API server's audit log of its requests (an unused rule fails)."""
# ruff: noqa: F811 - a test's parameter named after an imported fixture is that fixture

from __future__ import annotations

import base64
import filecmp
import http.client
import json
import os
import ssl
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetask.client import TaskSpec
from kubetask.etcd_process import EtcdProcess, free_port
from tests.k8s.cluster import ROOT, ControlPlane, tools_dir
from tests.k8s.process_kubelet import ProcessKubelet
from tests.k8s.test_operator import (  # noqa: F401 - kube, ns, procs: its fixtures
    FINISHED,
    Processes,
    kube,
    ns,
    phases,
    procs,
    wait_for,
)
from tests.k8s.test_scaling_workers import engine, live_pods, replicas, task_queue

pytestmark = pytest.mark.timeout(300)

CHART = ROOT / "helm" / "kubetask"
KUBE_VERSION = "1.34.3"  # hack/kube-tools/apiserver's pin
RELEASE = "kt"
# Checked by an admission plugin (OwnerReferencesPermissionEnforcement: the worker
# Deployment's ownerReference blocks its TaskQueue's deletion), never a request of its own,
# so never in the audit log; the one rule allowed to be absent from it.
ADMISSION_ONLY = {("kubetask.io", "taskqueues/finalizers", "update")}


def helm_binary() -> Path:
    helm = tools_dir() / "helm"
    if not helm.exists():
        reason = f"helm missing in {tools_dir()}: run `make kube-tools` (builds it with Go)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return helm


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm_binary()), *args], capture_output=True, text=True,
                            timeout=60, check=False,
                            env={**os.environ, "HELM_CACHE_HOME": "/tmp/kubetask-helm-cache",
                                 "HELM_CONFIG_HOME": "/tmp/kubetask-helm-config",
                                 "HELM_DATA_HOME": "/tmp/kubetask-helm-data"})
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}: "
                             f"{result.stderr.strip()}")
    return result


def render(namespace: str, *values: str, **kw: str) -> list[dict[str, Any]]:
    """`helm template` of the chart with --set VALUES, its objects (no CRDs)."""
    sets = [arg for value in values for arg in ("--set", value)]
    out = helm("template", RELEASE, str(CHART), "--namespace", namespace,
               "--kube-version", KUBE_VERSION, *sets, *kw.values()).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def as_list(docs: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})


def rbac_rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for doc in docs if doc["kind"] in ("Role", "ClusterRole")
            for rule in doc["rules"]]


def granted(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every rule, one triple per combination."""
    return {(group, resource, verb) for rule in rbac_rules(docs)
            for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def test_helm_lint_passes() -> None:
    result = helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in result.stdout, result.stdout


def test_the_charts_crds_and_dashboard_are_the_repository_files() -> None:
    chart_crds = sorted(p.name for p in (CHART / "crds").iterdir())
    assert chart_crds == sorted(p.name for p in (ROOT / "crds").iterdir())
    for name in chart_crds:
        assert filecmp.cmp(CHART / "crds" / name, ROOT / "crds" / name, shallow=False), (
            f"helm/kubetask/crds/{name} differs from crds/{name}: cp crds/*.yaml "
            "helm/kubetask/crds/")
    assert filecmp.cmp(CHART / "files" / "grafana-dashboard.json",
                       ROOT / "deploy" / "grafana-dashboard.json", shallow=False)
    # the images' tag (make images: kubetask/ROLE:VERSION) is the chart's appVersion
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


@pytest.mark.parametrize("values", [
    (),
    ("operator.watchNamespace=NS", "etcd.networkPolicy.enabled=true",
     "grafanaDashboard.enabled=true", "etcd.replicas=1", "etcd.tls.secret=my-etcd-tls",
     "etcd.tls.clientSecret=my-etcd-client-tls"),
    ("etcd.enabled=false", "externalEtcd.endpoints={etcd-a:2379,etcd-b:2379}",
     "externalEtcd.tlsSecret=etcd-client", "externalEtcd.authSecret=etcd-auth",
     "defaultTaskQueue.enabled=false", "metrics.service.enabled=false"),
], ids=["defaults", "one-namespace", "external-etcd"])
def test_every_rendered_object_is_accepted_by_the_api_server(kube: ControlPlane, ns: str,
                                                            values: tuple[str, ...]) -> None:
    docs = render(ns, *(v.replace("NS", ns) for v in values))
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "ServiceAccount", "ClusterRole"} <= kinds
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=as_list(docs))
    assert result.stdout.count("(server dry run)") == len(docs), result.stdout
    for doc in docs:  # pod security "restricted" on every pod template
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if pod:
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, doc["metadata"]["name"]
                assert sc["readOnlyRootFilesystem"] is True
                assert sc["capabilities"]["drop"] == ["ALL"]
                assert sc["seccompProfile"]["type"] == "RuntimeDefault"


@pytest.mark.parametrize(("value", "field"), [
    ("operator.logLevel=loud", "logLevel"),
    ("etcd.replicas=2", "replicas"),
    ("operator.watchNamespace=Not_A_Namespace", "watchNamespace"),
    ("operator.healthPort=0", "healthPort"),
    ("operator.colour=blue", "colour"),
    ("etcd.enabled=false", "endpoints"),
    ("externalEtcd.endpoints={no-port}", "endpoints"),
])
def test_the_schema_refuses_a_bad_value_and_names_its_field(value: str, field: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", value, check=False)
    assert result.returncode != 0 and not result.stdout
    assert field in result.stderr, result.stderr


@pytest.mark.parametrize("watch", ["", "one"])
def test_rbac_has_no_wildcards(watch: str) -> None:
    docs = render("kubetask", f"operator.watchNamespace={watch}")
    assert rbac_rules(docs)
    for group, resource, verb in granted(docs):
        assert "*" not in (group, resource, verb), (group, resource, verb)


def audited(control_plane: ControlPlane, user: str) -> list[dict[str, Any]]:
    lines = control_plane.audit_log.read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["user"]["username"] == user]


def asked(events: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    found = set()
    for event in events:
        ref = event.get("objectRef") or {}
        if "resource" in ref:
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource")
                                          else "")
            found.add((ref.get("apiGroup", ""), resource, event["verb"]))
            if event["verb"] == "patch" and event.get("responseStatus", {}).get("code") == 201:
                # a server-side apply that created the object: authorized as create too
                found.add((ref.get("apiGroup", ""), resource, "create"))
    return found


@pytest.fixture(params=["one-namespace", "cluster-wide"])
def operator_account(request: pytest.FixtureRequest, kube: ControlPlane,
                     ns: str) -> Iterator[tuple[str, Path, set[Any]]]:
    """The chart's ServiceAccount and RBAC applied (a Role in `ns` when the operator
    watches it alone, else a ClusterRole); a kubeconfig that authenticates as that
    ServiceAccount; the rules granted."""
    watch = ns if request.param == "one-namespace" else ""
    docs = [doc for doc in render(ns, f"operator.watchNamespace={watch}")
            if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                               "ClusterRoleBinding")]
    kube.kubectl("apply", "-f", "-", input=as_list(docs))
    (account,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    user = f"system:serviceaccount:{ns}:{account}"
    # A client certificate with the ServiceAccount's user and groups: the API server's RBAC
    # sees exactly what a token of that account would give.
    config = kube.kubeconfig_for(f"sa-{ns}", user, ("system:serviceaccounts",
                                                   f"system:serviceaccounts:{ns}"))
    yield user, config, granted(docs)
    cluster_wide = [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    kube.kubectl("delete", "-f", "-", "--wait=false", input=as_list(cluster_wide), check=False)


def test_the_operator_as_the_charts_service_account_needs_every_rule_and_no_more(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet, operator_account: tuple[str, Path, set[Any]]) -> None:
    user, config, rules = operator_account
    procs.env["KUBECONFIG"] = str(config)
    if any(rule[1] == "namespaces" for rule in rules):
        procs.operator()  # --namespace ns
    else:  # every namespace
        procs._start("operator", "--etcd-endpoints", etcd.endpoint, "--log-level", "debug")
    # The examples: every Task reaches its end (one with a TTL is deleted by the operator).
    for example in ("taskqueue.yaml", "tasks-builtin.yaml", "task-unknown-type.yaml"):
        kube.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / example))
    kube.kubectl("apply", "-n", ns, "-f", "-", input=as_list([{
        "apiVersion": "kubetask.io/v1alpha1", "kind": "Task", "metadata": {"name": "short-lived"},
        "spec": {"type": "echo", "payload": {"hello": 1}, "ttlSecondsAfterFinished": 1}}]))
    wait_for("every example Task finished", lambda: all(
        phase in FINISHED for name, phase in phases(kube, ns).items()
        if name != "short-lived") and "short-lived" not in phases(kube, ns), procs)
    assert "Succeeded" in phases(kube, ns).values()
    # The autoscaler: a backlog scales a queue up, then scale-in (pods listed, marked with
    # a deletion cost) back down.
    kube.kubectl("apply", "-n", ns, "-f", "-", input=task_queue(
        "burst", max_concurrent=2, minReplicas=1, maxReplicas=2,
        scaleDownStabilizationSeconds=0))
    engine(etcd, ns, lambda c: c.submit_many(
        [TaskSpec("echo", {"duration": 0.5}, queue="burst") for _ in range(80)]))
    wait_for("scaled up to 2", lambda: replicas(kube, ns, "burst") == 2, procs, timeout=90)
    wait_for("scaled back to 1", lambda: replicas(kube, ns, "burst") == 1 and len(
        [p for p in live_pods(kube, ns) if p.startswith("burst-")]) == 1, procs, timeout=120)
    procs.check_alive()

    events = audited(kube, user)
    refused = [e for e in events if e.get("responseStatus", {}).get("code") == 403]
    assert not refused, [(e["verb"], e["requestURI"]) for e in refused[:5]]
    unused = rules - asked(events) - ADMISSION_ONLY
    assert not unused, f"rules of the chart the operator never used: {sorted(unused)}"


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def test_helm_install_runs_the_operator_pod_on_the_charts_rbac_and_the_examples_succeed(
        kube: ControlPlane, ns: str, procs: Processes, etcd: EtcdProcess,
        process_kubelet: ProcessKubelet) -> None:
    """`helm install` on the control plane: the chart's operator Deployment becomes a Pod the
    process kubelet runs (the project's image mapped to this checkout's `kubetask`; its
    readiness probe on /healthz), the default TaskQueue's worker pods start, the examples'
    Tasks all finish; `helm uninstall` takes it all away. The process kubelet mounts no
    ServiceAccount token: the operator gets a kubeconfig of its ServiceAccount's user."""
    release, account = "kth", "kth-kubetask-operator"
    config = kube.kubeconfig_for(f"sa-{ns}", f"system:serviceaccount:{ns}:{account}",
                                 ("system:serviceaccounts", f"system:serviceaccounts:{ns}"))
    helm("install", release, str(CHART), "--namespace", ns, "--kubeconfig", str(kube.kubeconfig),
         "--set", "etcd.enabled=false", "--set", f"externalEtcd.endpoints={{{etcd.endpoint}}}",
         "--set", f"operator.watchNamespace={ns}", "--set", "operator.image.repository=kubetask",
         "--set", "operator.extraEnv[0].name=KUBECONFIG",
         "--set", f"operator.extraEnv[0].value={config}",
         "--set", "defaultTaskQueue.spec.scaling.minReplicas=2", "--wait=false")
    try:
        def running() -> bool:
            pods = live_pods(kube, ns)
            operator = [p for n, p in pods.items() if n.startswith(f"{release}-kubetask-operator")]
            workers = [p for n, p in pods.items() if n.startswith("default-workers")]
            return len(operator) == 1 and pod_ready(operator[0]) and len(workers) == 2 and all(
                map(pod_ready, workers))

        wait_for("the operator pod and 2 worker pods Ready", running, procs, timeout=120)
        kube.kubectl("apply", "-n", ns, "-f", str(ROOT / "examples" / "tasks-builtin.yaml"))
        wait_for("every Task finished", lambda: all(
            phase in FINISHED for phase in phases(kube, ns).values()), procs, timeout=120)
        assert set(phases(kube, ns).values()) == {"Succeeded"}, phases(kube, ns)
        # Uninstall: Tasks and TaskQueues first, while the operator still runs (finalizers).
        kube.kubectl("delete", "tasks,taskqueues", "--all", "-n", ns, "--timeout=60s")
    finally:
        helm("uninstall", release, "--namespace", ns, "--kubeconfig", str(kube.kubeconfig),
             "--wait", "--timeout", "60s", check=False)
    left = kube.kubectl("get", "deployments,serviceaccounts,roles,rolebindings", "-n", ns,
                        "-l", f"app.kubernetes.io/instance={release}", "-o", "name").stdout
    assert not left.strip(), left


def etcd_health(port: int, context: ssl.SSLContext) -> tuple[int, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_the_generated_etcd_certificates_serve_tls_and_demand_a_client_certificate(
        tmp_path: Path) -> None:
    """The StatefulSet's etcd settings with the Secret the chart generates and the members
    mount, on a local etcd (addresses made local): a client with the generated client
    certificate is served, one without is refused."""
    docs = render("kubetask", "etcd.replicas=1")
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    (statefulset,) = [d for d in docs if d["kind"] == "StatefulSet"]
    etcd_name = statefulset["metadata"]["name"]
    (mounted,) = [v["secret"]["secretName"] for v in statefulset["spec"]["template"]["spec"][
        "volumes"] if v["name"] == "tls"]
    # The members' Secret (server and peer certificate, the Services' names), not the clients'.
    assert mounted == f"{etcd_name}-tls", mounted
    server, client_secret = secrets[mounted], secrets[f"{etcd_name}-client-tls"]
    assert server["ca.crt"] == client_secret["ca.crt"]  # one CA
    assert server["tls.key"] != client_secret["tls.key"]  # clients never get the server's key
    tls = tmp_path / "tls"
    tls.mkdir(mode=0o700)
    for key, value in server.items():
        (tls / key).write_bytes(base64.b64decode(value))
    for key in ("tls.crt", "tls.key"):
        (tls / f"client.{key.split('.')[1]}").write_bytes(base64.b64decode(client_secret[key]))
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["ETCD_CLIENT_CERT_AUTH"] == env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    env = {k: str(tls / Path(v).name) if v.startswith("/etc/etcd/tls/") else v
           for k, v in env.items()}
    client, peer, metrics = (free_port() for _ in range(3))
    member = statefulset["metadata"]["name"] + "-0"
    env.update(ETCD_NAME=member, ETCD_DATA_DIR=str(tmp_path / "data"),
               ETCD_LISTEN_CLIENT_URLS=f"https://127.0.0.1:{client}",
               ETCD_ADVERTISE_CLIENT_URLS=f"https://127.0.0.1:{client}",
               ETCD_LISTEN_PEER_URLS=f"https://127.0.0.1:{peer}",
               ETCD_INITIAL_ADVERTISE_PEER_URLS=f"https://127.0.0.1:{peer}",
               ETCD_INITIAL_CLUSTER=f"{member}=https://127.0.0.1:{peer}",
               ETCD_LISTEN_METRICS_URLS=f"http://127.0.0.1:{metrics}", ETCD_UNSAFE_NO_FSYNC="true")
    log = tmp_path / "etcd.log"
    with open(log, "wb") as out:
        etcd = subprocess.Popen([str(tools_dir() / "etcd")], env={"PATH": os.environ["PATH"], **env},
                                stdout=out, stderr=out, start_new_session=True)
    try:
        trusted = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        trusted.load_cert_chain(str(tls / "client.crt"), str(tls / "client.key"))
        deadline, answer = time.monotonic() + 30, None
        while answer is None and time.monotonic() < deadline:
            assert etcd.poll() is None, log.read_text()[-2000:]
            try:
                answer = etcd_health(client, trusted)
            except OSError:
                time.sleep(0.2)
        assert answer is not None and answer[0] == 200 and '"health":"true"' in answer[1], (
            answer, log.read_text()[-2000:])
        anonymous = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            etcd_health(client, anonymous)
    finally:
        etcd.terminate()
        etcd.wait(timeout=15)
