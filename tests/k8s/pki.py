"""Certificates for the test control plane, made by the `openssl` command (ECDSA P-256).

One CA signs the API server's serving certificate (localhost, 127.0.0.1, the first service
IP) and every client certificate; the API server trusts it as its client CA. Client
certificates carry the user as CN and the groups as O, which is all the API server reads.
A separate key pair signs service-account tokens. Everything is valid for 7 days.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "7"
_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


class TestPki:
    """The certificates of one control plane, in `directory`."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        self.ca = KeyPair(directory / "ca.crt", directory / "ca.key")
        _openssl("req", "-x509", *_CURVE, "-keyout", "ca.key", "-out", "ca.crt",
                 "-days", _DAYS, "-subj", "/CN=kubetask-test-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        self.sa_key = directory / "sa-signer.key"
        self.sa_public = directory / "sa-signer.pub"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-out", self.sa_key.name, cwd=directory)
        _openssl("pkey", "-in", self.sa_key.name, "-pubout", "-out", self.sa_public.name,
                 cwd=directory)

    def serving(self, name: str) -> KeyPair:
        return self._signed(name, "/CN=kube-apiserver",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.0.0.1\n"
                            "extendedKeyUsage=serverAuth\n")

    def client(self, name: str, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        subject = "".join(f"/O={group}" for group in groups) + f"/CN={user}"
        return self._signed(name, subject, "extendedKeyUsage=clientAuth\n")

    def _signed(self, name: str, subject: str, extensions: str) -> KeyPair:
        pair = KeyPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        csr, ext = f"{name}.csr", f"{name}.ext"
        (self.directory / ext).write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            + extensions)
        _openssl("req", "-new", *_CURVE, "-keyout", pair.key.name, "-out", csr,
                 "-subj", subject, cwd=self.directory)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca.cert.name, "-CAkey", self.ca.key.name,
                 "-CAcreateserial", "-days", _DAYS, "-extfile", ext, "-out", pair.cert.name,
                 cwd=self.directory)
        return pair
