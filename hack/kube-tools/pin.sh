#!/usr/bin/env bash
# Re-pin the kube-apiserver tools module to another Kubernetes release, from the Go module
# proxy alone:  hack/kube-tools/pin.sh v1.34.3
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, ...) at v0.0.0 and maps them to
# ./staging/ with replace lines that a consumer's build ignores. Each staging module is
# published as v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>: read the staging list from
# the release's own go.mod and replace each with that version.
set -euo pipefail
release=${1:?usage: pin.sh v1.MINOR.PATCH}
staging="v0.${release#v1.}"
cd "$(dirname "$0")/apiserver"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
upstream_mod=$(go mod download -json "k8s.io/kubernetes@${release}" \
  | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
while read -r module; do
  go mod edit "-replace=${module}=${module}@${staging}"
done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$upstream_mod")
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  go get -tool "k8s.io/kubernetes/cmd/${cmd}@${release}"
done
# Build with the Go defaults upstream ships with (its go.mod says go 1.24 / godebug go1.24).
go mod edit -go=1.24.0 -godebug=default=go1.24
