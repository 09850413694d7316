"""The only code that talks to etcd: keys, transactions, leases, watches, election."""

from kubetask.store.client import Store, retrying
from kubetask.store.election import Election, leader_of
from kubetask.store.keys import Keyspace, prefix_end
from kubetask.store.lease import LeaseKeeper
from kubetask.store.limits import MAX_TXN_BYTES, MAX_TXN_OPS, chunks
from kubetask.store.listwatch import ListWatch, revision_only
from kubetask.store.ops import Compare, Delete, Get, KeyValue, Op, Put, RangeResult, TxnResult
from kubetask.store.watch import Event, Watch

__all__ = [
    "MAX_TXN_BYTES",
    "MAX_TXN_OPS",
    "Compare",
    "Delete",
    "Election",
    "Event",
    "Get",
    "KeyValue",
    "Keyspace",
    "LeaseKeeper",
    "ListWatch",
    "Op",
    "Put",
    "RangeResult",
    "Store",
    "TxnResult",
    "Watch",
    "chunks",
    "leader_of",
    "prefix_end",
    "retrying",
    "revision_only",
]
