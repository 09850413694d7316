"""etcd connection settings: gRPC targets resolve no name here; credentials refuse halves."""

from __future__ import annotations

import pytest

from kubetask.errors import StoreError, ValidationError
from kubetask.model import EtcdCredentials
from kubetask.store.client import channel_target


def test_addresses_are_one_round_robin_list_without_duplicates() -> None:
    assert channel_target(["127.0.0.1:2379", " http://127.0.0.2:2379", "127.0.0.1:2379"]
                          ) == "ipv4:127.0.0.1:2379,127.0.0.2:2379"


def test_a_name_is_left_to_grpcs_resolver_so_tls_checks_it() -> None:
    assert channel_target(["etcd.kubetask.svc:2379"]) == "dns:///etcd.kubetask.svc:2379"
    assert channel_target(["https://localhost:2379"]) == "dns:///localhost:2379"


def test_several_names_are_resolved_later_not_in_the_constructor() -> None:
    assert channel_target(["etcd-0.etcd:2379", "etcd-1.etcd:2379"]) is None


@pytest.mark.parametrize("endpoint", ["etcd", "etcd:port", ":2379", "etcd:2379/x"])
def test_a_malformed_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(StoreError, match="must look like host:port"):
        channel_target([endpoint])


def test_no_endpoint_is_refused() -> None:
    with pytest.raises(StoreError, match="no etcd endpoints"):
        channel_target([" ", ""])


@pytest.mark.parametrize(("fields", "message"), [
    ({"cert": "c.crt"}, "--etcd-cert and --etcd-key go together"),
    ({"key": "c.key"}, "--etcd-cert and --etcd-key go together"),
    ({"user": "u"}, "has no password"),
    ({"password": "p"}, "without a user"),
])
def test_half_credentials_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EtcdCredentials(**fields)


def test_credentials_from_the_environment_and_the_password_stays_out_of_repr() -> None:
    found = EtcdCredentials.from_env({"KUBETASK_ETCD_CACERT": "ca.crt", "KUBETASK_ETCD_USER": "w",
                                      "KUBETASK_ETCD_PASSWORD": "s3cret"})
    assert (found.cacert, found.user, found.password, found.tls) == ("ca.crt", "w", "s3cret", True)
    assert "s3cret" not in repr(found)
    assert not EtcdCredentials.from_env({}).tls
