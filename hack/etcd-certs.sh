#!/usr/bin/env bash
# Make a CA, a serving certificate for etcd (names: etcd, localhost, 127.0.0.1) and a client
# certificate (CN = the etcd user, "root" by default) with openssl, for docker-compose.tls.yml
# or a test etcd:   hack/etcd-certs.sh [DIR (.kubetask-certs)] [CLIENT_CN (root)]
# ECDSA P-256, valid 365 days. The client key is made readable by the containers' user
# (10001): fine for a local setup, not for a shared machine; in Kubernetes use a Secret.
set -euo pipefail
dir=${1:-.kubetask-certs}
cn=${2:-root}
mkdir -p "$dir" && cd "$dir"
curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
[[ -f ca.crt ]] || openssl req -x509 "${curve[@]}" -keyout ca.key -out ca.crt -days 365 \
  -subj /CN=kubetask-etcd-ca -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
sign() {  # NAME SUBJECT EXTENSIONS
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' \
    "$3" > "$1.ext"
  openssl req -new "${curve[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign server /CN=etcd "subjectAltName=DNS:etcd,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
sign client "/CN=$cn" "extendedKeyUsage=clientAuth"
chmod 644 client.key server.key  # read by the etcd and kubetask containers' users
echo "certificates in $dir: ca.crt, server.crt/key (etcd), client.crt/key (CN=$cn)"
