"""The lease keeper on a real etcd."""

from __future__ import annotations

import pytest

from kubetask.etcd_process import EtcdProcess
from kubetask.store import LeaseKeeper, Store

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
