#!/usr/bin/env bash
# Makes containers run on this machine, for `make images` and tests/containers: podman +
# runc (+ debootstrap) from Debian, podman-compose in a pinned tool venv, podman's config
# under the state folder (CONTAINERS_CONF), the local base image localhost/python-base:bookworm
# (debootstrap, with the host's proxy CA) and a local etcd image from hack/bin/etcd.
# Idempotent: a second run checks and returns in a few seconds.
# Usage: hack/containers/setup.sh [--no-install]   (--no-install: fail instead of apt-get)
set -euo pipefail
# shellcheck source=hack/containers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
INSTALL=1
[[ "${1:-}" == --no-install ]] && INSTALL=0
START=$SECONDS

install_packages() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    ((${#missing[@]} == 0)) && return 0
    ((INSTALL)) || die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        die "missing ${missing[*]} and no apt-get as root to install them"
    fi
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_compose() {
    local venv="$STATE/tools"
    if [[ "$("$venv/bin/podman-compose" --version 2>/dev/null | grep -o 'podman-compose version [0-9.]*' \
            | awk '{print $3}')" == "$PODMAN_COMPOSE_VERSION" ]]; then
        return 0
    fi
    log "podman-compose $PODMAN_COMPOSE_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
}

# The host's extra CA certificates (the HTTPS proxy's): pip inside image builds needs them.
ca_digest() {
    cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16
}

make_base() {
    local digest; digest="$(ca_digest)"
    if [[ "$(image_label podman "$BASE_LOCAL" io.kubetask.ca-digest)" == "$digest" ]]; then
        return 0
    fi
    local rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap bookworm into $rootfs (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$STATE/debootstrap.log" 2>&1 \
        || die "debootstrap failed: see $STATE/debootstrap.log"
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/usr/bin/python3"]' \
        --change "LABEL io.kubetask.ca-digest=$digest" - "$BASE_LOCAL" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    log "made $BASE_LOCAL"
}

# etcd for the compose file (ETCD_IMAGE): hack/bin/etcd (make kube-tools) on the local base.
make_etcd() {
    local bin="$ROOT/hack/bin/etcd"
    [[ -x "$bin" ]] || { log "no hack/bin/etcd (make kube-tools): no local etcd image"; return 0; }
    local version digest image
    version="$("$bin" --version | awk '/^etcd Version/ {print $3}')"
    digest="$(sha256sum "$bin" | cut -c1-16)"
    image="localhost/kubetask-etcd:v$version"
    if [[ "$(image_label podman "$image" io.kubetask.etcd-digest)" == "$digest" \
          && "$(image_label podman "$image" io.kubetask.ca-digest)" == "$(ca_digest)" ]]; then
        echo "$image" >"$STATE/etcd-image"; return 0
    fi
    local ctx="$STATE/etcd-build"
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp "$bin" "$ctx/etcd"
    podman build --quiet --build-arg "BASE_IMAGE=$BASE_LOCAL" --label "io.kubetask.etcd-digest=$digest" \
        --label "io.kubetask.ca-digest=$(ca_digest)" \
        -f "$ROOT/hack/containers/etcd.Containerfile" -t "$image" "$ctx" >/dev/null
    rm -rf "$ctx"
    echo "$image" >"$STATE/etcd-image"
    log "made $image"
}

install_packages
write_podman_conf
podman info >/dev/null 2>&1 || die "podman does not run: podman info says: $(podman info 2>&1 | tail -1)"
install_compose
make_base
make_etcd
log "ready in $((SECONDS - START)) s (CONTAINERS_CONF=$CONTAINERS_CONF)"
