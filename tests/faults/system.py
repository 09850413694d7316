"""A kubetask system of real processes for the fault tests, and the probes that watch it.

Schedulers and workers are `kubetask` child processes (tests.harness.Proc: each in its
own process group, so kill/stop/continue reach only what the test started). The test
itself only observes etcd and submits through the SDK or the CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from kubetask.client import AsyncClient, TaskSpec
from kubetask.model import Task
from kubetask.queue import codec
from kubetask.store import Event, Get, Keyspace, Store, Watch
from tests.faults.executors import SINK_ENV
from tests.harness import Proc

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "default"


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str,
                     interval: float = 0.05) -> float:
    """Poll `check` until true; returns the seconds it took. Fails the test at the deadline."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def report(scenario: str, **figures: Any) -> None:
    """Print a scenario's measured figures (`pytest -s` shows them); also append them as a
    JSON line to $KUBETASK_FAULTS_REPORT when set."""
    shown = " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in figures.items())
    print(f"\n[faults] {scenario}: {shown}", flush=True)
    path = os.environ.get("KUBETASK_FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"scenario": scenario, **figures}) + "\n")


class FaultSystem:
    """Processes of one test against one etcd (or cluster), in one fresh namespace."""

    def __init__(self, base: Path, endpoints: Sequence[str], namespace: str) -> None:
        self.base = base
        self.endpoints = list(endpoints)
        self.namespace = namespace
        self.keys = Keyspace(namespace=namespace)
        self.sink = base / "sink.jsonl"
        self.procs: dict[str, Proc] = {}
        self.store = Store(self.endpoints)
        self.client = AsyncClient(self.endpoints, namespace=namespace)
        self.env = dict(os.environ)
        self.env.update({
            "KUBETASK_ETCD_ENDPOINTS": ",".join(self.endpoints),
            "KUBETASK_NAMESPACE": namespace,
            "KUBETASK_QUEUE": QUEUE,
            SINK_ENV: str(self.sink),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        })

    async def open(self) -> None:
        await self.store.start()
        await self.client.connect()

    async def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.stop(timeout=5)
        await self.client.close()
        await self.store.stop()

    # --- processes -------------------------------------------------------------
    def _start(self, node_id: str, args: list[str], endpoints: Sequence[str] | None) -> Proc:
        env = dict(self.env)
        if endpoints is not None:
            env["KUBETASK_ETCD_ENDPOINTS"] = ",".join(endpoints)
        proc = Proc([*args, "--node-id", node_id], env, self.base / f"{node_id}.log")
        self.procs[node_id] = proc
        return proc

    def scheduler(self, node_id: str, *, session_ttl: int = 3,
                  endpoints: Sequence[str] | None = None, args: Sequence[str] = ()) -> Proc:
        return self._start(node_id, ["scheduler", "--session-ttl", str(session_ttl), *args],
                           endpoints)

    def worker(self, node_id: str, *, lease_ttl: int = 3, max_concurrent: int = 10,
               shutdown_timeout: float = 5.0, retry_base: float = 0.2,
               endpoints: Sequence[str] | None = None, args: Sequence[str] = ()) -> Proc:
        return self._start(node_id, [
            "worker", "--import", "tests.faults.executors", "--lease-ttl", str(lease_ttl),
            "--max-concurrent", str(max_concurrent), "--shutdown-timeout", str(shutdown_timeout),
            "--retry-base", str(retry_base), "--retry-cap", "2", *args], endpoints)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubetask", *args], env=self.env,
                              text=True, capture_output=True, timeout=timeout, cwd=ROOT)

    def log(self, node_id: str) -> str:
        return self.procs[node_id].output()

    # --- probes -----------------------------------------------------------------
    async def workers(self) -> set[str]:
        result = await self.store.range(Get(self.keys.workers(QUEUE), prefix=True, keys_only=True))
        return {kv.key.rsplit("/", 1)[1] for kv in result.kvs}

    async def wait_workers(self, *node_ids: str, timeout: float = 30) -> None:
        async def registered() -> bool:
            return set(node_ids) <= await self.workers()
        await wait_until(registered, timeout=timeout, what=f"workers {node_ids} to register")

    async def leader(self) -> str | None:
        """The node id of the scheduler leading the queue (lowest create revision)."""
        result = await self.store.range(Get(self.keys.election(QUEUE), prefix=True))
        if not result.kvs:
            return None
        return min(result.kvs, key=lambda kv: kv.create_revision).value.decode()

    async def wait_leader(self, timeout: float = 30, not_: str | None = None) -> str:
        found: list[str] = []

        async def led() -> bool:
            leader = await self.leader()
            if leader is not None and leader != not_:
                found.append(leader)
                return True
            return False
        await wait_until(led, timeout=timeout, what="a scheduler to lead")
        return found[-1]

    async def active(self, worker: str | None = None) -> set[str]:
        """Ids of tasks assigned or running (on `worker`)."""
        prefix = (self.keys.assignments_of_worker(QUEUE, worker) if worker
                  else self.keys.assignments_all(QUEUE))
        result = await self.store.range(Get(prefix, prefix=True, keys_only=True))
        return {self.keys.task_id_of(kv.key) for kv in result.kvs}

    async def count(self, index: str) -> int:
        """Keys under the queue's `index` (e.g. "done/succeeded/", "pending/")."""
        return await self.store.count(self.keys.queue(QUEUE) + index)

    async def wait_succeeded(self, n: int, timeout: float = 60) -> float:
        """Until at least `n` tasks of the queue have succeeded; returns the seconds waited."""
        async def enough() -> bool:
            return await self.count("done/succeeded/") >= n
        return await wait_until(enough, timeout=timeout, what=f"{n} tasks done")

    async def tasks(self) -> dict[str, Task]:
        result = await self.store.range_all(Get(self.keys.tasks(), prefix=True))
        return {kv.key.rsplit("/", 1)[1]: codec.load(kv.value) for kv in result.kvs}

    async def task(self, task_id: str) -> Task:
        return await self.client.get(task_id)

    async def submit(self, count: int, payload: Callable[[int], Any] | Any = None, *,
                     type_: str = "fault", **options: Any) -> list[Task]:
        specs = [TaskSpec(type_, payload(i) if callable(payload) else payload, **options)
                 for i in range(count)]
        return await self.client.submit_many(specs)

    async def wait_terminal(self, ids: Iterable[str], *, timeout: float) -> dict[str, Task]:
        wanted = set(ids)
        latest: dict[str, Task] = {}

        async def all_done() -> bool:
            latest.clear()
            latest.update(await self.tasks())
            return all(i in latest and latest[i].terminal for i in wanted)
        try:
            await wait_until(all_done, timeout=timeout, what=f"{len(wanted)} tasks to finish",
                             interval=0.2)
        except AssertionError:
            stuck = {i: latest[i].state.value if i in latest else "missing"
                     for i in wanted if i not in latest or not latest[i].terminal}
            raise AssertionError(f"{len(stuck)} tasks never finished: "
                                 f"{dict(list(stuck.items())[:10])}") from None
        return latest


class EventLog:
    """Every event under the namespace from a revision on, with the local time it arrived."""

    def __init__(self, store: Store, keys: Keyspace, start_revision: int) -> None:
        self.keys = keys
        self.events: list[tuple[float, Event]] = []
        self._watch = Watch(store, keys.root, start_revision=start_revision)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self._watch:
            now = time.monotonic()
            self.events.extend((now, e) for e in batch)

    async def close(self) -> None:
        self._watch.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def first(self, match: Callable[[Event], bool], *, after: float = 0.0) -> tuple[float, Event]:
        for at, event in self.events:
            if at >= after and match(event):
                return at, event
        raise AssertionError("no such event was seen")

    def is_assignment(self, event: Event) -> bool:
        return event.put and event.key.startswith(self.keys.assignments_all(QUEUE))
