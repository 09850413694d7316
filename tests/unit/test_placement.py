"""The leader's placement: free slots first across all workers, then prefetch room; never
more than capacity + prefetch per worker; a draining worker gets nothing."""

from __future__ import annotations

from typing import cast

import orjson

from kubetask.model import WorkerInfo
from kubetask.queue import codec
from kubetask.scheduler.pending_heads import PendingHeads
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.scheduler.strategies import LeastLoadStrategy, RoundRobinStrategy, Strategy
from kubetask.scheduler.term import LeaderTerm
from kubetask.store import Compare, Keyspace, KeyValue, Store
from tests.factories import make_task

KEYS = Keyspace(namespace="ns")


def record(worker: str, *, capacity: int, prefetch: int) -> KeyValue:
    info = WorkerInfo(id=worker, queue="q", capacity=capacity, prefetch=prefetch,
                      types=("echo",))
    return KeyValue(KEYS.worker("q", worker), orjson.dumps(info.to_dict()), 1, 1, 1, 7)


def term(strategy: Strategy, *workers: KeyValue) -> LeaderTerm:
    """A term whose placement is tested alone (it reads and writes nothing here)."""
    leader = LeaderTerm(cast(Store, None), KEYS, SchedulerSettings(queue="q"), strategy,
                        fence=cast(Compare, None))
    leader.view.load_workers(list(workers))
    return leader


def pending(count: int) -> PendingHeads:
    heads = PendingHeads(KEYS, None)
    tasks = [make_task(queue="q") for _ in range(count)]
    kvs = [KeyValue(KEYS.pending("q", 1, t.id), codec.dump(t), 1, 1, 1, 0) for t in tasks]
    for priority in (3, 2, 1, 0):
        heads.fill(priority, kvs if priority == 1 else [], more=False)
    return heads


def test_free_slots_of_every_worker_fill_before_any_prefetch_room() -> None:
    leader = term(RoundRobinStrategy(), record("a", capacity=2, prefetch=2),
                  record("b", capacity=2, prefetch=2))
    leader.view.workers["a"].active = {"x1", "x2"}  # a runs two: no free slot
    assert (leader.view.free_slots(), leader.view.room()) == (2, 6)
    placed = leader._place(pending(9), leader.view.room())
    assert [p.worker for p in placed] == ["b", "b", "a", "b", "a", "b"]
    assert leader.view.room() == 0
    assert {w.id: w.running for w in leader.view.workers.values()} == {"a": 4, "b": 4}


def test_without_prefetch_only_free_slots_are_filled() -> None:
    leader = term(LeastLoadStrategy(), record("a", capacity=3, prefetch=0),
                  record("b", capacity=1, prefetch=0))
    assert leader.view.room() == leader.view.free_slots() == 4
    placed = leader._place(pending(6), 6)
    assert sorted(p.worker for p in placed) == ["a", "a", "a", "b"]


def test_least_load_counts_prefetched_tasks_as_held() -> None:
    leader = term(LeastLoadStrategy(), record("a", capacity=2, prefetch=4),
                  record("b", capacity=2, prefetch=4))
    leader.view.workers["a"].active = {"x1", "x2", "x3"}  # two running, one prefetched
    leader.view.workers["b"].active = {"y1", "y2"}
    placed = leader._place(pending(3), 3)
    assert [p.worker for p in placed] == ["b", "a", "b"]  # b holds fewer; then a tie: by id


def test_an_old_worker_record_without_prefetch_reads_as_strict_placement() -> None:
    data = WorkerInfo(id="old", queue="q", capacity=2).to_dict()
    del data["prefetch"]
    assert WorkerInfo.from_dict(data).prefetch == 0
