#!/usr/bin/env bash
# Run tests/e2e on a kind cluster, for hosts with docker (CI: .github/workflows/e2e-kind.yml).
# Our own machines have no docker and no registry: there hack/cluster (make e2e) does the same.
#   hack/e2e-kind.sh [pytest args...]
# Needs docker, kind (KIND, default `kind` on PATH; the workflow installs v0.30.0), kubectl and
# .venv (make venv). Builds the images with docker, loads them into the kind node, runs the
# tests with KUBETASK_E2E_KUBECONFIG, and deletes the cluster at the end whatever happened.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND="${KIND:-kind}"
NAME="${KIND_CLUSTER_NAME:-kubetask-e2e}"
# The official etcd image (kind hosts reach registries); tests/e2e runs it as uid 10001.
ETCD_IMAGE="${KUBETASK_E2E_ETCD_IMAGE:-quay.io/coreos/etcd:v3.6.16}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")"
STATE="$(mktemp -d)"

log() { printf 'e2e-kind: %s\n' "$*" >&2; }
for tool in docker "$KIND" kubectl; do
  command -v "$tool" >/dev/null || { log "no $tool on PATH"; exit 1; }
done
[[ -x $ROOT/.venv/bin/python ]] || { log "no .venv: run make venv"; exit 1; }

cleanup() {
  "$KIND" delete cluster --name "$NAME" >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

log "building the images with docker"
ENGINE=docker "$ROOT/hack/containers/images.sh"
docker image inspect "$ETCD_IMAGE" >/dev/null 2>&1 || docker pull --quiet "$ETCD_IMAGE"

log "kind create cluster $NAME"
"$KIND" create cluster --name "$NAME" --wait 120s ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
"$KIND" get kubeconfig --name "$NAME" >"$STATE/kubeconfig"
"$KIND" load docker-image --name "$NAME" "kubetask/worker:$VERSION" "kubetask/operator:$VERSION" \
  "$ETCD_IMAGE"

log "tests/e2e against kind"
cd "$ROOT"
KUBETASK_E2E_KUBECONFIG="$STATE/kubeconfig" KUBETASK_E2E_ETCD_IMAGE="$ETCD_IMAGE" \
  .venv/bin/python -m pytest tests/e2e -q "$@"
