"""The lease keeper on a real etcd."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubetask.etcd_process import EtcdProcess
from kubetask.store import Keyspace, LeaseKeeper, Store
from kubetask.worker import Worker, WorkerSettings
from tests.faults.proxy import Proxy
from tests.harness import QuietLoad

pytestmark = pytest.mark.etcd


class RevokeCountingStore(Store):
    """A real store that counts the lease revokes it sends."""

    revokes = 0

    async def revoke(self, lease: int) -> None:
        self.revokes += 1
        await super().revoke(lease)


async def test_stopping_a_lease_twice_revokes_it_once(etcd: EtcdProcess) -> None:
    async with RevokeCountingStore([etcd.endpoint]) as store:
        keeper = LeaseKeeper(store, 5)
        lease = await keeper.start()
        await keeper.stop()
        await keeper.stop()  # a worker's drain, then its session's end
        assert store.revokes == 1
        assert await store.time_to_live(lease) == -1


class LeasePutWatchingStore(Store):
    """A real store that records puts sent under a lease it has already revoked."""

    def __init__(self, endpoints: list[str]) -> None:
        super().__init__(endpoints)
        self.revoked: set[int] = set()
        self.late_puts: list[str] = []

    async def revoke(self, lease: int) -> None:
        self.revoked.add(lease)
        await super().revoke(lease)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        if lease and lease in self.revoked:
            self.late_puts.append(key)
        return await super().put(key, value, lease=lease)


async def test_a_stopping_worker_sends_no_heartbeat_after_revoking_its_lease(
        etcd: EtcdProcess) -> None:
    """Each late put fails ("lease not found", a warning in etcd's log: the soak caught one).
    A heartbeat every millisecond keeps one in flight whenever the lease is revoked."""
    store = LeasePutWatchingStore([etcd.endpoint])
    async with store:
        worker = Worker(store, Keyspace(namespace="late-put"),
                        WorkerSettings(node_id="beating", heartbeat_interval=0.001),
                        load=QuietLoad())
        for _ in range(5):  # bounded: five start/stop rounds
            await worker.start()
            await asyncio.wait_for(worker.registered.wait(), 10)
            await asyncio.sleep(0.05)
            await worker.stop(graceful=True)
            worker = Worker(store, Keyspace(namespace="late-put"),
                            WorkerSettings(node_id="beating", heartbeat_interval=0.001),
                            load=QuietLoad())
        assert store.late_puts == []


async def test_keepalive_cut_off_for_a_while_warns_once_and_says_when_it_works_again(
        etcd: EtcdProcess, caplog: pytest.LogCaptureFixture) -> None:
    """etcd unreachable for 4 s of a 12 s lease: the lease lives; one WARNING for the first
    failed refresh (the retries meanwhile at debug), one INFO when a refresh works again."""
    caplog.set_level(logging.DEBUG, logger="kubetask.store.lease")
    proxy = Proxy(etcd.client_port)
    try:
        async with Store([proxy.endpoint], timeout=2) as store:
            keeper = LeaseKeeper(store, 12, name="probe")
            await keeper.start()
            await asyncio.sleep(0.5)
            proxy.cut()
            await asyncio.sleep(4)
            proxy.restore()
            refreshed = keeper.last_refresh
            async with asyncio.timeout(15):
                while keeper.last_refresh == refreshed:
                    await asyncio.sleep(0.05)
            assert not keeper.lost.is_set()
            await keeper.stop()
    finally:
        proxy.close()
    records = [r for r in caplog.records if r.name == "kubetask.store.lease"]
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    quiet = [r for r in records if r.levelno == logging.DEBUG and "keepalive failed" in r.getMessage()]
    assert len(warnings) == 1 and "keepalive failed" in warnings[0], warnings
    assert len(infos) == 1 and "keepalive works again" in infos[0], infos
    assert quiet  # 4 s cut off with refreshes every 4 s and retries every 0.5 s at most
