# shellcheck shell=bash
# Sourced by the hack/containers scripts: paths, the podman configuration, the engine.
# Nothing here edits the machine's own files: podman reads our containers.conf through
# CONTAINERS_CONF (the only file it loads when that variable is set).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${KUBETASK_CONTAINERS_STATE:-$ROOT/.kubetask-containers}"
# shellcheck disable=SC2034 # used by the scripts that source this file
BASE_LOCAL="localhost/python-base:bookworm"
# shellcheck disable=SC2034
PODMAN_COMPOSE_VERSION="1.6.0"
export CONTAINERS_CONF="$STATE/containers.conf"

log() { printf 'containers: %s\n' "$*" >&2; }
die() { printf 'containers: %s\n' "$*" >&2; exit 1; }

# The limits podman may take here (no CAP_SYS_RESOURCE: it cannot raise nofile to its own
# default of 1048576) and runc (crun fails on this cgroup v1 hybrid host).
write_podman_conf() {
    mkdir -p "$STATE"
    local nofile nproc
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    [[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
    [[ "$nproc" == unlimited || "$nproc" -gt 16384 ]] && nproc=16384
    local conf
    conf="$(printf '%s\n' '# Written by hack/containers/common.sh; podman reads it through CONTAINERS_CONF.' \
        '[containers]' \
        "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" \
        '[engine]' \
        'runtime = "runc"')"
    [[ -f "$CONTAINERS_CONF" && "$(cat "$CONTAINERS_CONF")" == "$conf" ]] || printf '%s\n' "$conf" >"$CONTAINERS_CONF"
}

# The engine that runs here: podman if it answers, else docker if its daemon does; empty if none.
detect_engine() {
    if command -v podman >/dev/null && { [[ -f "$CONTAINERS_CONF" ]] || write_podman_conf; } \
        && podman info >/dev/null 2>&1; then
        echo podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo docker
    fi
}

image_exists() {  # ENGINE IMAGE
    "$1" image inspect "$2" >/dev/null 2>&1
}

image_label() {  # ENGINE IMAGE LABEL
    "$1" image inspect --format "{{ index .Config.Labels \"$3\" }}" "$2" 2>/dev/null || true
}
