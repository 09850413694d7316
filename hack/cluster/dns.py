"""The local cluster's DNS (hack/cluster has no CoreDNS image): A records for Services and
StatefulSet pods in cluster.local, read from the API server, on the node's address port 53.

Answers what kubelet-made resolv.conf files ask (ndots:5, search <ns>.svc.cluster.local ...):
  <service>.<ns>.svc.cluster.local            the ClusterIP, or for a headless Service its
                                              endpoints' addresses
  <hostname>.<service>.<ns>.svc.cluster.local an endpoint with that hostname (StatefulSet pods)
  <d>.<c>.<b>.<a>.in-addr.arpa                 PTR: the name of such an endpoint or Service (etcd
                                              checks its peers' certificates by reverse lookup)
Every other name is NXDOMAIN (pods here need no names outside the cluster); a name that
exists but has no record of the asked type gets an empty answer. Stdlib only, one thread;
the API is read at most once a second.

Usage: dns.py NODE_IP API_URL CA_FILE CERT_FILE KEY_FILE
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import sys
import time
import urllib.request

log = logging.getLogger("cluster-dns")
DOMAIN = "svc.cluster.local"
TTL = 2
CACHE_SECONDS = 1.0
A, PTR, AAAA = 1, 12, 28
REVERSE = ".in-addr.arpa"
NOERROR, FORMERR, NXDOMAIN = 0, 1, 3


class Records:
    """Names to IPv4 addresses, rebuilt from Services and EndpointSlices when older than 1 s."""

    def __init__(self, api: str, context: ssl.SSLContext) -> None:
        self.api, self.context = api, context
        self.names: dict[str, list[str]] = {}
        self.reverse: dict[str, str] = {}  # an address to its name
        self.read_at = 0.0

    def get(self, path: str) -> list[dict]:
        with urllib.request.urlopen(self.api + path, context=self.context, timeout=5) as response:
            return json.load(response)["items"]

    def refresh(self) -> None:
        names: dict[str, list[str]] = {}
        reverse: dict[str, str] = {}
        headless: set[str] = set()
        for service in self.get("/api/v1/services"):
            meta, ip = service["metadata"], service["spec"].get("clusterIP", "")
            base = f"{meta['name']}.{meta['namespace']}.{DOMAIN}"
            names[base] = [ip] if ip and ip != "None" else []
            reverse.update({address: base for address in names[base]})
            if ip == "None":
                headless.add(base)
        for eps in self.get("/apis/discovery.k8s.io/v1/endpointslices"):
            service = eps["metadata"].get("labels", {}).get("kubernetes.io/service-name")
            base = f"{service}.{eps['metadata']['namespace']}.{DOMAIN}"
            if base not in headless or eps.get("addressType") != "IPv4":
                continue
            for endpoint in eps.get("endpoints") or []:
                addresses = endpoint.get("addresses") or []
                if endpoint.get("hostname"):
                    names.setdefault(f"{endpoint['hostname']}.{base}", []).extend(addresses)
                    reverse.update({a: f"{endpoint['hostname']}.{base}" for a in addresses})
                if (endpoint.get("conditions") or {}).get("ready", True):
                    names[base].extend(addresses)
        self.names, self.reverse, self.read_at = names, reverse, time.monotonic()

    def fresh(self) -> None:
        if time.monotonic() - self.read_at > CACHE_SECONDS:
            try:
                self.refresh()
            except OSError as error:
                log.warning("reading the API: %s (answering from the last read)", error)

    def lookup(self, name: str) -> list[str] | None:
        self.fresh()
        return self.names.get(name)

    def pointer(self, name: str) -> str | None:
        """The name of the address that `name` (d.c.b.a.in-addr.arpa) reverses."""
        self.fresh()
        return self.reverse.get(".".join(reversed(name.removesuffix(REVERSE).split("."))))


def encode(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def parse_question(packet: bytes) -> tuple[int, str, int, int] | None:
    """(id, name, qtype, end of the question) of a one-question query, or None."""
    if len(packet) < 12:
        return None
    ident, _flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        return None
    labels, at = [], 12
    while at < len(packet) and packet[at]:
        length = packet[at]
        if length > 63 or at + 1 + length > len(packet):
            return None
        labels.append(packet[at + 1:at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    if at + 5 > len(packet):
        return None
    (qtype,) = struct.unpack("!H", packet[at + 1:at + 3])
    return ident, ".".join(labels).lower(), qtype, at + 5


def answer(packet: bytes, records: Records) -> bytes | None:
    question = parse_question(packet)
    if question is None:
        return None
    ident, name, qtype, end = question
    rd = struct.unpack("!H", packet[2:4])[0] & 0x0100
    if name.endswith(REVERSE):
        target = records.pointer(name)
        rcode, count, body = (NXDOMAIN, 0, b"") if target is None else (NOERROR, 0, b"")
        if target is not None and qtype == PTR:
            data = encode(target)
            count, body = 1, struct.pack("!HHHIH", 0xC00C, PTR, 1, TTL, len(data)) + data
        header = struct.pack("!HHHHHH", ident, 0x8400 | rd | 0x0080 | rcode, 1, count, 0, 0)
        return header + packet[12:end] + body
    addresses = records.lookup(name) if name.endswith("." + DOMAIN) else None
    rcode = NXDOMAIN if addresses is None else NOERROR
    body = b""
    if addresses and qtype == A:
        for ip in dict.fromkeys(addresses):
            # A pointer to the question's name (offset 12), type A, class IN, TTL, 4 bytes.
            body += struct.pack("!HHHIH", 0xC00C, A, 1, TTL, 4) + socket.inet_aton(ip)
    count = len(body) // 16
    # QR, AA, RD copied, RA; one question, `count` answers.
    header = struct.pack("!HHHHHH", ident, 0x8400 | rd | 0x0080 | rcode, 1, count, 0, 0)
    return header + packet[12:end] + body


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    node_ip, api, ca, cert, key = sys.argv[1:6]
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    records = Records(api, context)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((node_ip, 53))
    log.info("serving %s on %s:53", DOMAIN, node_ip)
    while True:
        packet, peer = sock.recvfrom(512)
        reply = answer(packet, records)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
