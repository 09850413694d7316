"""The worker Deployment's pod: the container port `health` the worker serves on, a liveness
probe on the loop only and a readiness probe on the worker's registration; restricted pod
security with a read-only root."""

from __future__ import annotations

from typing import Any

from kubetask.operator.deployment import HEALTH_PORT, WORKER_USER, worker_deployment


def container(**spec: Any) -> dict[str, Any]:
    body = {"metadata": {"name": "q", "namespace": "ns", "uid": "u-1"}, "spec": spec}
    made = worker_deployment(body, etcd_endpoints="etcd:2379", default_image="img")
    (only,) = made["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_worker_serves_its_health_endpoint_on_the_named_port() -> None:
    found = container()
    assert found["ports"] == [{"name": "health", "containerPort": HEALTH_PORT}]
    args = found["args"]
    assert args[args.index("--health-port") + 1] == str(HEALTH_PORT)
    assert args[args.index("--health-host") + 1] == "0.0.0.0"


def test_spec_worker_prefetch_becomes_the_prefetch_flag_and_unset_leaves_the_default() -> None:
    args = container(worker={"maxConcurrent": 8, "prefetch": 4})["args"]
    assert args[args.index("--prefetch") + 1] == "4"
    assert args[args.index("--max-concurrent") + 1] == "8"
    assert "--prefetch" not in container(worker={"maxConcurrent": 8})["args"]


def test_spec_worker_prefetch_hold_becomes_the_hold_flag_and_unset_leaves_the_default() -> None:
    args = container(worker={"prefetchHoldSeconds": 0.25})["args"]
    assert args[args.index("--prefetch-hold") + 1] == "0.25"
    assert "--prefetch-hold" not in container(worker={})["args"]


def test_liveness_asks_for_the_loop_and_readiness_for_the_registration() -> None:
    found = container()
    live, ready = found["livenessProbe"], found["readinessProbe"]
    assert live["httpGet"] == {"path": "/livez", "port": "health"}
    assert ready["httpGet"] == {"path": "/readyz", "port": "health"}
    # a stuck loop restarts the container after a minute, not at the first slow answer
    assert live["periodSeconds"] * live["failureThreshold"] >= 60
    assert ready["periodSeconds"] < live["periodSeconds"]


def test_each_manifest_has_probes_of_its_own() -> None:
    first, second = container(), container()
    first["livenessProbe"]["periodSeconds"] = 1
    assert second["livenessProbe"]["periodSeconds"] != 1


def test_the_pod_meets_the_restricted_pod_security_standard_with_a_read_only_root() -> None:
    body = {"metadata": {"name": "q", "namespace": "ns", "uid": "u-1"}, "spec": {}}
    pod = worker_deployment(body, etcd_endpoints="etcd:2379",
                            default_image="img")["spec"]["template"]["spec"]
    (found,) = pod["containers"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": WORKER_USER, "runAsGroup": WORKER_USER,
        "fsGroup": WORKER_USER, "seccompProfile": {"type": "RuntimeDefault"}}
    assert found["securityContext"] == {
        "allowPrivilegeEscalation": False, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    (tmp,) = pod["volumes"]
    assert found["volumeMounts"] == [{"name": tmp["name"], "mountPath": "/tmp"}]
    assert "emptyDir" in tmp


def test_the_etcd_secret_is_mounted_read_only_and_named_by_paths_never_in_args() -> None:
    body = {"metadata": {"name": "emails", "namespace": "ns", "uid": "u-1"}, "spec": {}}
    made = worker_deployment(body, etcd_endpoints="etcd:2379", default_image="img",
                             etcd_tls_secret="etcd-{queue}")
    pod = made["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    assert {"name": "etcd-tls", "secret": {"secretName": "etcd-emails", "defaultMode": 0o440}
            } in pod["volumes"]
    assert {"name": "etcd-tls", "mountPath": "/etc/kubetask/etcd", "readOnly": True
            } in worker["volumeMounts"]
    env = {e["name"]: e.get("value") or e["valueFrom"] for e in worker["env"]}
    assert env["KUBETASK_ETCD_CACERT"] == "/etc/kubetask/etcd/ca.crt"
    assert env["KUBETASK_ETCD_CERT"] == "/etc/kubetask/etcd/tls.crt"
    assert env["KUBETASK_ETCD_KEY"] == "/etc/kubetask/etcd/tls.key"
    assert env["KUBETASK_ETCD_PASSWORD_FILE"] == "/etc/kubetask/etcd/password"
    assert env["KUBETASK_ETCD_USER"] == {"secretKeyRef": {
        "name": "etcd-emails", "key": "username", "optional": True}}
    assert "KUBETASK_ETCD_PASSWORD" not in env
    assert not any("etcd/" in arg or "password" in arg for arg in worker["args"])


def test_without_an_etcd_secret_nothing_is_mounted() -> None:
    found = container()
    assert [m["name"] for m in found["volumeMounts"]] == ["tmp"]
    assert not any(e["name"].startswith("KUBETASK_ETCD_") for e in found["env"])
