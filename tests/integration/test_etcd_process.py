"""The etcd child processes the tests, the benchmarks and `kubetask dev` run on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubetask import etcd_process
from kubetask.etcd_process import free_port, start_cluster

pytestmark = pytest.mark.etcd


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    low = etcd_process._ephemeral_low()
    for port in ports:
        assert port < low
        with socket.socket() as s:
            # As servers bind (etcd, aiohttp): a port another process left in TIME_WAIT on
            # this shared machine is free for a listener, and free_port counts it so.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def test_a_cluster_whose_port_is_taken_starts_again_on_fresh_ports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        real = etcd_process.free_port
        ports: Iterator[int] = iter([busy])
        monkeypatch.setattr(etcd_process, "free_port", lambda: next(ports, None) or real())
        members = start_cluster(tmp_path / "etcd", 1)
        try:
            (member,) = members
            assert member.client_port != busy and member.healthy()
            assert member.data_dir.parent.name == "try2"
        finally:
            for m in members:
                m.stop()
