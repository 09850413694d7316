#!/usr/bin/env bash
# Builds the kubetask images with podman (if it runs here) or docker (if its daemon does):
#   kubetask/worker:VERSION (+ :latest)    from Dockerfile.worker
#   kubetask/operator:VERSION (+ :latest)  from Dockerfile.operator
# BASE_IMAGE: the Python 3.11 base; default the local base made by setup.sh when it exists
# (machines without a registry), else the official python:3.11-slim. ENGINE=podman|docker
# picks the engine. Prints the images and their sizes.
set -euo pipefail
# shellcheck source=hack/containers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ENGINE="${ENGINE:-$(detect_engine)}"
[[ -n "$ENGINE" ]] || die "neither podman nor docker runs here: make container-setup installs podman (Debian, as root), or start a docker daemon"
[[ "$ENGINE" == podman || "$ENGINE" == docker ]] || die "ENGINE=$ENGINE: podman or docker"
if [[ -z "${BASE_IMAGE:-}" ]]; then
    if image_exists "$ENGINE" "$BASE_LOCAL"; then BASE_IMAGE="$BASE_LOCAL"; else BASE_IMAGE=python:3.11-slim; fi
fi
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# One build at a time on this machine: the prune below removes the untagged images of an
# earlier build, which a concurrent build (another checkout's tests) may still be using.
exec 9>"${TMPDIR:-/tmp}/kubetask-images.lock"
flock 9

for role in worker operator; do
    log "$ENGINE build kubetask/$role:$VERSION from Dockerfile.$role (BASE_IMAGE=$BASE_IMAGE)"
    "$ENGINE" build --quiet -f "$ROOT/Dockerfile.$role" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
        -t "kubetask/$role:$VERSION" -t "kubetask/$role:latest" "$ROOT" >/dev/null
    # earlier builds of this image, untagged by this one (the build stage's cache stays)
    "$ENGINE" image prune -f --filter "label=org.opencontainers.image.title=kubetask-$role" >/dev/null
done
"$ENGINE" images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 'kubetask/(worker|operator):' >&2 || true
