#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler, etcd (>= 3.5.13, which
# kube-apiserver's watch cache needs), helm, and for hack/cluster the kubelet, kube-proxy and
# crictl, from the Go module proxy into hack/bin/:
#   hack/kube-tools/build.sh          (make kube-tools)
# A binary already built for the pinned version is kept (checked with its --version), so a
# second run takes well under a second. Cold times on the project's 2-core VM: README.md.
# Nothing is downloaded but Go modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$here/../bin" && cd "$here/../bin" && pwd)
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# The pinned versions, read from go.mod without asking Go (fast, and no module download).
pinned() { sed -n "s#^[[:space:]]*$2 \(v[^ ]*\).*#\1#p" "$here/$1/go.mod" | head -n 1; }
k8s=$(pinned apiserver k8s.io/kubernetes)
etcd=$(pinned etcd go.etcd.io/etcd/server/v3)
helm=$(pinned helm helm.sh/helm/v3)
crictl=v1.34.0 # sigs.k8s.io/cri-tools, the release that matches Kubernetes 1.34
kube_binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
[[ -n $k8s && -n $etcd && -n $helm ]] || { echo "build.sh: no pinned version in go.mod" >&2; exit 1; }

# built BINARY EXPECTED: true if hack/bin/BINARY exists and reports the pinned version.
built() { [[ -x $out/$1 ]] && "$out/$1" --version 2>/dev/null | head -n 1 | grep -qF "$2"; }

kube_pkgs=()
for binary in "${kube_binaries[@]}"; do
  built "$binary" "Kubernetes $k8s" || kube_pkgs+=("k8s.io/kubernetes/cmd/$binary")
done
if ((${#kube_pkgs[@]})); then
  minor=$(echo "$k8s" | cut -d. -f2)
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    # Without these the server reports v0.0.0-master, which trips version checks (helm, kubectl).
    ldflags="$ldflags -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean"
  done
  echo "building ${kube_pkgs[*]##*/} $k8s into $out"
  # One go build for all of them: the packages they share compile once.
  (cd "$here/apiserver" && go build -trimpath -ldflags "$ldflags" -o "$out/" "${kube_pkgs[@]}")
fi

if ! built etcd "etcd Version: ${etcd#v}"; then
  echo "building etcd $etcd into $out"
  (cd "$here/etcd" && go build -trimpath \
    -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd" -o "$out/etcd" \
    go.etcd.io/etcd/server/v3)
fi
if ! { [[ -x $out/helm ]] && "$out/helm" version --short 2>/dev/null | grep -qxF "$helm"; }; then
  echo "building helm $helm into $out"
  # The version stamps helm's own Makefile sets: without them `helm version` says v3.22 and
  # lint/template assume an old default Kubernetes version.
  client=$(pinned helm k8s.io/client-go)
  hpkg=helm.sh/helm/v3
  ldflags="-s -w -X $hpkg/internal/version.version=$helm -X $hpkg/internal/version.metadata="
  ldflags="$ldflags -X $hpkg/internal/version.gitTreeState=clean"
  for pkg in $hpkg/pkg/lint/rules $hpkg/pkg/chartutil; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$(echo "$client" | cut -d. -f2)"
  done
  (cd "$here/helm" && go build -trimpath -ldflags "$ldflags" -o "$out/helm" helm.sh/helm/v3/cmd/helm)
fi
if ! built crictl "crictl version $crictl"; then
  echo "building crictl $crictl into $out"
  # go install of a pinned version: the module's own go.mod and go.sum decide its dependencies.
  GOBIN=$out GOFLAGS=-buildvcs=false go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$crictl"
fi
for binary in "${kube_binaries[@]}"; do
  printf '%-24s %s\n' "$binary" "$("$out/$binary" --version)"
done
printf '%-24s %s\n' etcd "$("$out/etcd" --version | sed -n 1p)"
printf '%-24s %s\n' helm "$("$out/helm" version --short)"
printf '%-24s %s\n' crictl "$("$out/crictl" --version)"
