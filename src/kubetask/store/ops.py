"""What a store call sends and gets back (keys and values, reads, writes, compares,
transaction results) and their encoding as etcd's protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from etcd3aio import _protobuf as pb

from kubetask.store.keys import prefix_end


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    count: int
    more: bool
    revision: int


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Get:
    key: str
    prefix: bool = False
    keys_only: bool = False
    count_only: bool = False
    end: str | None = None  # explicit exclusive range end (instead of `prefix`)
    revision: int = 0  # read as of this revision (0: the latest); pins a snapshot across txns


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction: `<target>(key) <op> value`."""

    key: str
    target: str  # "version" | "create" | "mod" | "value" | "lease"
    op: str  # "==" | "!=" | ">" | "<"
    value: int | bytes

    @staticmethod
    def absent(key: str) -> Compare:
        return Compare(key, "version", "==", 0)

    @staticmethod
    def present(key: str) -> Compare:
        return Compare(key, "version", ">", 0)

    @staticmethod
    def mod_revision(key: str, revision: int) -> Compare:
        return Compare(key, "mod", "==", revision)

    @staticmethod
    def create_revision(key: str, revision: int) -> Compare:
        return Compare(key, "create", "==", revision)


Op = Put | Delete | Get


class TxnResult:
    """A transaction's outcome. Its per-operation responses are decoded when first asked
    for: most callers only look at `succeeded` (a batch of 100 puts answers 100 times)."""

    __slots__ = ("_raw", "_responses", "revision", "succeeded")

    def __init__(self, succeeded: bool, revision: int, raw: Sequence[Any]) -> None:
        self.succeeded = succeeded
        self.revision = revision
        self._raw = raw
        self._responses: list[RangeResult | int | None] | None = None

    @property
    def responses(self) -> list[RangeResult | int | None]:
        """Get -> RangeResult, Delete -> count deleted, Put -> None; in request order."""
        if self._responses is None:
            self._responses = [decode_response(r) for r in self._raw]
        return self._responses


_TARGETS = {
    "version": pb.Compare.VERSION,
    "create": pb.Compare.CREATE,
    "mod": pb.Compare.MOD,
    "value": pb.Compare.VALUE,
    "lease": pb.Compare.LEASE,
}
_RESULTS = {"==": pb.Compare.EQUAL, "!=": pb.Compare.NOT_EQUAL, ">": pb.Compare.GREATER, "<": pb.Compare.LESS}
_TARGET_FIELD = {"version": "version", "create": "create_revision", "mod": "mod_revision",
                 "value": "value", "lease": "lease"}


def decode_kv(raw: Any) -> KeyValue:
    return KeyValue(raw.key.decode(), raw.value, raw.create_revision, raw.mod_revision,
                    raw.version, raw.lease)


def range_request(get: Get, *, limit: int = 0, revision: int = 0,
                   descend: bool = False, serializable: bool = False) -> Any:
    request = pb.RangeRequest(key=get.key.encode(), limit=limit,
                              revision=revision or get.revision, keys_only=get.keys_only,
                              count_only=get.count_only, serializable=serializable)
    if get.end is not None:
        request.range_end = get.end.encode()
    elif get.prefix:
        request.range_end = prefix_end(get.key).encode()
    if descend:
        request.sort_order = pb.RangeRequest.DESCEND
        request.sort_target = pb.RangeRequest.KEY
    return request


def add_ops(into: Any, ops: Iterable[Op]) -> None:
    """Append `ops` to a repeated RequestOp field, built in place (a quarter of the cost of
    constructing each message and copying it in: this runs for every key of every task)."""
    add = into.add
    for op in ops:
        if isinstance(op, Put):
            put = add().request_put
            put.key = op.key.encode()
            put.value = op.value
            if op.lease:
                put.lease = op.lease
        elif isinstance(op, Delete):
            delete = add().request_delete_range
            delete.key = op.key.encode()
            if op.prefix:
                delete.range_end = prefix_end(op.key).encode()
        else:
            add().request_range.CopyFrom(range_request(op))


def add_compares(into: Any, compares: Iterable[Compare]) -> None:
    add = into.add
    for cmp in compares:
        message = add()
        message.key = cmp.key.encode()
        message.target = _TARGETS[cmp.target]
        message.result = _RESULTS[cmp.op]
        setattr(message, _TARGET_FIELD[cmp.target], cmp.value)


def decode_response(raw: Any) -> RangeResult | int | None:
    kind = raw.WhichOneof("response")
    if kind == "response_range":
        rr = raw.response_range
        return RangeResult([decode_kv(kv) for kv in rr.kvs], rr.count, rr.more, rr.header.revision)
    if kind == "response_delete_range":
        return int(raw.response_delete_range.deleted)
    return None
