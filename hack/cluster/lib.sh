# Sourced by hack/cluster/up and hack/cluster/down: where things are, the addresses this
# cluster owns, and the helpers both need. Nothing here changes the machine by itself.
# shellcheck shell=bash disable=SC2034  # the variables are used by up and down
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${KUBETASK_CLUSTER_STATE:-/var/tmp/kubetask-cluster}"
BIN="${KUBETASK_KUBE_TOOLS:-$ROOT/hack/bin}"
# Every address below is one this cluster creates: the node's on an ifb link of its own
# (this kernel has no dummy driver), the pods' on its own CNI bridge, the services' virtual.
LINK=kt-node0
NODE_IP=10.213.0.1
POD_CIDR=10.214.0.0/24
BRIDGE=kt-cni0
CNI_NET=kubetask-cluster
SERVICE_CIDR=10.215.0.0/24
API_SERVICE_IP=10.215.0.1
API_PORT=6443
ETCD_PORT=12379
NODE_NAME=kubetask-node
SANDBOX_IMAGE=localhost/kubetask-pause:1
# Images from `make images` / `make container-setup` that the cluster gets (podman → containerd).
IMAGES=(localhost/kubetask/worker:0.1.0 localhost/kubetask/operator:0.1.0 localhost/kubetask-etcd:v3.6.16)
# The processes, in start order (down stops them in reverse).
PROCESSES=(etcd kube-apiserver kube-controller-manager kube-scheduler cluster-dns containerd kubelet
  kube-proxy)
# Kernel settings the kubelet, kube-proxy and the CNI bridge plugin may change: saved by up,
# restored by down.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.bridge.bridge-nf-call-ip6tables)
# Host paths the kubelet or containerd touch outside STATE: removed by down if up made them.
HOST_PATHS=(/var/lib/cni /var/log/containers /var/lib/kubelet /run/containerd)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

need_root() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (it starts a kubelet, containerd and links)"
}

# pid_of NAME: the recorded PID of NAME if that process still runs the binary it started.
pid_of() {
  local file="$STATE/run/$1.pid" pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(cat "$STATE/run/$1.cmd" 2>/dev/null)" || return 1
  echo "$pid"
}

# alive PID: the process exists and is not a zombie.
alive() {
  [[ -r /proc/$1/stat ]] && [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# stop NAME [SECONDS]: SIGTERM to its process group, SIGKILL after SECONDS (default 10).
stop() {
  local name=$1 wait=${2:-10} pid i
  if pid=$(pid_of "$name"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "$name ($pid) still runs after ${wait}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/run/$name.pid" "$STATE/run/$name.cmd"
}

# launch NAME BINARY ARGS...: in its own session (process group = its PID), log in logs/.
launch() {
  local name=$1 binary=$2; shift 2
  setsid "$binary" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/run/$name.pid"
  echo "$binary" >"$STATE/run/$name.cmd"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds; else die with the log's tail.
wait_for() {
  local what=$1 seconds=$2 i; shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    pid_of "$what" >/dev/null || die "$what exited: $(tail -n 5 "$STATE/logs/$what.log")"
    sleep 0.2
  done
  die "$what not ready after ${seconds}s: $(tail -n 5 "$STATE/logs/$what.log")"
}
