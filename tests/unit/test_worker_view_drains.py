"""The leader's worker view and drain requests: a request stops assignments to its worker at
once (before the worker's record says it drains); its undo gives the record back the say."""

from __future__ import annotations

import orjson

from kubetask.model import WorkerInfo, WorkerState
from kubetask.scheduler.view import WorkerView
from kubetask.store import Event, Keyspace, KeyValue

KEYS = Keyspace(namespace="ns")


def kv(key: str, value: bytes = b"{}") -> KeyValue:
    return KeyValue(key, value, 1, 1, 1, 7)


def record(worker: str, state: WorkerState = WorkerState.ACTIVE) -> KeyValue:
    info = WorkerInfo(id=worker, queue="q", capacity=4, state=state, types=("echo",))
    return kv(KEYS.worker("q", worker), orjson.dumps(info.to_dict()))


def test_a_drain_request_takes_its_worker_out_until_undone() -> None:
    view = WorkerView(KEYS, "q")
    view.load_workers([record("a"), record("b")])
    view.apply_drain_events([Event(True, kv(KEYS.drain("q", "a")), None)])
    assert [w.id for w in view.candidates("echo", any_worker=False)] == ["b"]
    view.apply_worker_events([Event(True, record("a"), None)])  # a heartbeat: still out
    assert view.workers["a"].free == 0 and view.free_slots() == 4
    view.apply_drain_events([Event(False, kv(KEYS.drain("q", "a")), None)])
    assert sorted(w.id for w in view.candidates("echo", any_worker=False)) == ["a", "b"]


def test_a_listed_drain_applies_to_a_worker_seen_later_and_the_record_still_counts() -> None:
    view = WorkerView(KEYS, "q")
    view.load_drains([kv(KEYS.drain("q", "late"))])
    view.load_workers([record("late"), record("tired", WorkerState.DRAINING)])
    assert view.free_slots() == 0
    view.load_drains([])
    assert view.workers["late"].free == 4
    assert view.workers["tired"].free == 0  # its own record says it drains
