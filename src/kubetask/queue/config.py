"""A queue's defaults in etcd: read, update (merging field by field), replace, reset."""

from __future__ import annotations

from typing import Any

import orjson

from kubetask.errors import StoreError
from kubetask.model import QueueConfig
from kubetask.store import Compare, Delete, Keyspace, KeyValue, Put, Store

_RETRIES = 8  # concurrent setters: read-modify-write under a compare, tried again


class QueueConfigs:
    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys

    async def get(self, queue: str) -> QueueConfig:
        return decode_config(await self.store.get(self.keys.queue_config(queue)))

    async def update(self, queue: str, **changes: Any) -> QueueConfig:
        """Set the given fields (None: leave as is); validated before anything is written."""
        QueueConfig().merge(**changes)  # unknown or invalid fields: refused up front
        key = self.keys.queue_config(queue)
        for _ in range(_RETRIES):
            kv = await self.store.get(key)
            after = decode_config(kv).merge(**changes)
            guard = Compare.absent(key) if kv is None else Compare.mod_revision(key, kv.mod_revision)
            result = await self.store.txn([guard], [
                Put(key, orjson.dumps(after.to_dict())),
                Put(self.keys.queue_meta(queue), b"{}")])
            if result.succeeded:
                return after
        raise StoreError(f"queue {queue}: its settings kept changing under this update; "
                         "try again")

    async def put(self, queue: str, config: QueueConfig) -> None:
        """Replace the whole config (idempotent: a retry writes the same)."""
        await self.store.txn([], [Put(self.keys.queue_config(queue), orjson.dumps(config.to_dict())),
                                  Put(self.keys.queue_meta(queue), b"{}")])

    async def reset(self, queue: str) -> None:
        await self.store.txn([], [Delete(self.keys.queue_config(queue))])


def decode_config(kv: KeyValue | None) -> QueueConfig:
    """The config stored in `kv` (None: no config key, the defaults)."""
    return QueueConfig() if kv is None else QueueConfig.from_dict(orjson.loads(kv.value))
