"""How a process proves itself to etcd: TLS files and an etcd user (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubetask.errors import ValidationError

# The environment variables every component reads (the CLI flags' KUBETASK_* twins).
ENV_CACERT = "KUBETASK_ETCD_CACERT"
ENV_CERT = "KUBETASK_ETCD_CERT"
ENV_KEY = "KUBETASK_ETCD_KEY"
ENV_USER = "KUBETASK_ETCD_USER"
ENV_PASSWORD = "KUBETASK_ETCD_PASSWORD"
ENV_PASSWORD_FILE = "KUBETASK_ETCD_PASSWORD_FILE"


@dataclass(frozen=True)
class EtcdCredentials:
    """TLS (`cacert` verifies etcd; `cert` + `key` are a client certificate, whose CN etcd
    takes as the user) and etcd's own user/password auth. All unset: plain, anonymous."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise ValidationError("--etcd-cert and --etcd-key go together: give both or neither")
        if self.user and not self.password:
            raise ValidationError(f"etcd user {self.user!r} has no password: set "
                                  f"{ENV_PASSWORD} or --etcd-password-file")
        if self.password and not self.user:
            raise ValidationError(f"an etcd password without a user: set {ENV_USER}")
        if self.user is not None and not self.user.strip():
            raise ValidationError(f"{ENV_USER} is empty")

    @property
    def tls(self) -> bool:
        """True when the connection is encrypted (a CA or a client certificate given)."""
        return bool(self.cacert or self.cert)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EtcdCredentials:
        """Credentials from the KUBETASK_ETCD_* variables (`os.environ`, say); a password
        file is read by the caller (the CLI's --etcd-password-file)."""
        return cls(cacert=environ.get(ENV_CACERT) or None, cert=environ.get(ENV_CERT) or None,
                   key=environ.get(ENV_KEY) or None, user=environ.get(ENV_USER) or None,
                   password=environ.get(ENV_PASSWORD) or None)
