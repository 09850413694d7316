"""Stats that add up: a queue's counts and its workers' figures come from one etcd revision,
and the workers' counters move in the same transactions as the queue's indexes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kubetask.client import AsyncClient, TaskSpec
from kubetask.model import RetryPolicy
from tests.conftest import run_cli
from tests.harness import InProcessSystem

pytestmark = pytest.mark.etcd

FAST_RETRY = RetryPolicy(base_seconds=0.02, cap_seconds=0.05)


def disagreements(q: dict[str, Any]) -> list[str]:
    """What does not add up in one queue's stats (empty: all agree)."""
    workers = q["worker_stats"]
    found = []
    if q["running"] != sum(w["running"] for w in workers) + q["orphaned"]:
        found.append(f"running {q['running']} != workers' {[w['running'] for w in workers]} "
                     f"+ orphaned {q['orphaned']}")
    for name in ("succeeded", "failed_attempts"):
        if q[name] != sum(w[name] for w in workers):
            found.append(f"{name} {q[name]} != workers' {[w[name] for w in workers]}")
    return found


async def test_every_snapshot_of_a_busy_queue_agrees_with_its_workers(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    for name in ("w-a", "w-b", "w-c"):
        await system.worker(node_id=name, max_concurrent=4, retry=FAST_RETRY)
    specs = [TaskSpec("echo", {"duration": 0.02 + 0.01 * (i % 7)}) for i in range(240)]
    specs += [TaskSpec("unreliable") for _ in range(20)]  # two failed attempts each
    specs += [TaskSpec("no-such-type", max_retries=0) for _ in range(5)]  # one, then dead
    tasks = await client.submit_many(specs)
    samples: list[dict[str, Any]] = []
    busy = 0
    async with asyncio.timeout(60):
        for _ in range(400):  # bounded: sample until the run is over
            (stats,) = await client.stats("default")
            q = stats.to_dict()
            samples.append(q)
            busy += q["running"] > 0 and 0 < q["succeeded"] < len(specs)
            if q["succeeded"] + q["dead"] == len(specs):
                break
            await asyncio.sleep(0.01)
    await client.wait([t.id for t in tasks], timeout=30)
    (final,) = await client.stats("default")
    samples.append(final.to_dict())
    assert busy >= 3, f"only {busy} samples caught the queue mid-run"
    bad = [(i, d) for i, q in enumerate(samples) if (d := disagreements(q))]
    assert bad == [], f"{len(bad)} of {len(samples)} snapshots disagree, first: {bad[:3]}"
    last = samples[-1]
    assert (last["succeeded"], last["dead"], last["failed_attempts"]) == (260, 5, 45)
    assert all(w["counted_since"] > 0 for w in last["worker_stats"])


async def test_a_dead_task_retried_counts_each_failed_attempt(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(node_id="w-only")
    doomed = await client.submit("no-such-type", max_retries=0)
    await client.wait([doomed.id], timeout=30)
    await client.retry(doomed.id)  # its attempt numbers start again at 1
    await client.wait([doomed.id], timeout=30)
    (stats,) = await client.stats("default")
    q = stats.to_dict()
    assert len((await client.get(doomed.id)).history) == 2
    assert q["failed_attempts"] == 2
    assert [w["failed_attempts"] for w in q["worker_stats"]] == [2]


async def test_worker_counters_start_at_its_start_while_the_queue_keeps_its_counts(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    first = await system.worker(node_id="w-first")
    done = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(5)])
    await client.wait([t.id for t in done], timeout=30)
    await first.stop()
    system.workers.remove(first)
    await system.worker(node_id="w-second")
    more = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(3)])
    await client.wait([t.id for t in more], timeout=30)
    (stats,) = await client.stats("default")
    q = stats.to_dict()
    assert q["succeeded"] == 8  # the queue's index keeps every retained task
    (w,) = q["worker_stats"]
    assert (w["id"], w["succeeded"]) == ("w-second", 3)  # since it started
    assert w["counted_since"] >= first.started_at


async def test_failed_attempts_are_named_so_and_failed_is_no_task_state(
        system: InProcessSystem, client: AsyncClient, cli_env: dict[str, str]) -> None:
    await system.scheduler()
    await system.worker(node_id="w-only", retry=FAST_RETRY)
    tasks = await client.submit_many([TaskSpec("unreliable"), TaskSpec("nope", max_retries=0)])
    await client.wait([t.id for t in tasks], timeout=30)

    data = json.loads((await asyncio.to_thread(
        run_cli, ["stats", "--json", "--queue", "default"], cli_env)).stdout)
    assert (data["succeeded"], data["dead"], data["failed_attempts"]) == (1, 1, 3)
    (w,) = data["worker_stats"]
    assert (w["succeeded"], w["failed_attempts"]) == (1, 3)
    assert "failed" not in data and "failed" not in w

    text = (await asyncio.to_thread(run_cli, ["stats"], cli_env)).stdout
    queue_header, worker_header = [line for line in text.splitlines()
                                   if line.startswith("QUEUE")]
    for header in (queue_header, worker_header):
        assert "FAILED ATTEMPTS" in header
        assert header.count("FAILED") == 1  # no bare FAILED column
    # The state columns come first, the count of attempts after them.
    states = ["PENDING", "RUNNING", "SUCCEEDED", "RETRYING", "DEAD", "CANCELLED"]
    assert max(queue_header.index(s) for s in states) < queue_header.index("FAILED ATTEMPTS")
    assert "since it started" in text

    refused = await asyncio.to_thread(run_cli, ["task", "list", "--state", "failed"], cli_env)
    assert refused.returncode == 2 and "'failed' is not one of" in refused.stderr


async def test_throughput_history_counts_what_was_submitted_and_ended(
        system: InProcessSystem, client: AsyncClient) -> None:
    await system.scheduler()
    await system.worker(node_id="w-a", heartbeat_interval=0.2, retry=FAST_RETRY)
    await system.worker(node_id="w-b", heartbeat_interval=0.2, retry=FAST_RETRY)
    tasks = await client.submit_many([TaskSpec("echo", {"duration": 0}) for _ in range(30)]
                                     + [TaskSpec("unreliable") for _ in range(3)])
    await client.wait([t.id for t in tasks], timeout=30)
    totals: tuple[int, int, int] = (0, 0, 0)
    async with asyncio.timeout(20):
        for _ in range(100):  # until the buckets of these ends are complete (5 s each)
            history = (await client.throughput()).to_dict()
            totals = (sum(history["submitted"]), sum(history["succeeded"]),
                      sum(history["failed_attempts"]))
            if totals == (33, 33, 6):
                break
            await asyncio.sleep(0.5)
    assert totals == (33, 33, 6)
    assert history["bucket_seconds"] == 5 and len(history["succeeded"]) == 23  # ~2 minutes
    assert history["start"] % 5 == 0
