"""The test control plane itself: the API server answers, objects round-trip through kubectl."""

from __future__ import annotations

import json
import uuid

from tests.k8s.cluster import ControlPlane


def test_api_server_is_ready_and_admits_the_admin(control_plane: ControlPlane) -> None:
    status, body = control_plane.api.text("/readyz")
    assert (status, body) == (200, "ok")
    assert control_plane.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
    assert control_plane.env["KUBECONFIG"] == str(control_plane.kubeconfig)


def test_namespace_and_configmap_round_trip_through_kubectl(control_plane: ControlPlane) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    control_plane.kubectl("create", "namespace", namespace)
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": namespace},
                "data": {"queue": "default", "weight": "3"}}
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    read = json.loads(control_plane.kubectl("get", "configmap", "settings", "-n", namespace,
                                            "-o", "json").stdout)
    assert read["data"] == {"queue": "default", "weight": "3"}
    assert read["metadata"]["uid"]
    missing = control_plane.kubectl("get", "configmap", "absent", "-n", namespace, check=False)
    assert missing.returncode != 0
    assert "not found" in missing.stderr
