"""What a soak run observes: each task's end and deletion, etcd's size and each process's
memory over time, and the warning or error lines in the processes' logs."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from kubetask.queue import codec
from kubetask.store import Get, Keyspace, Store


@dataclass
class Lifetime:
    state: str | None = None  # terminal state, once a poll saw the record terminal
    finished_at: float | None = None  # the record's own finish time (wall clock)
    deleted_at: float | None = None  # wall clock of the first poll that found no record


class TaskLedger:
    """Each task's end and deletion, from polls of the namespace's records. A finished
    task is kept for the retention period, many poll intervals, so no end is missed; a
    deletion is dated by the first poll that misses the record (at most one interval late)."""

    def __init__(self, store: Store, keys: Keyspace) -> None:
        self.store = store
        self.keys = keys
        self.tasks: dict[str, Lifetime] = {}
        self._live: set[str] = set()

    async def poll(self) -> int:
        """Read every record once; returns how many exist."""
        result = await self.store.range_all(Get(self.keys.tasks(), prefix=True))
        now = time.time()
        present: set[str] = set()
        for kv in result.kvs:
            task_id = self.keys.task_id_of(kv.key)
            present.add(task_id)
            life = self.tasks.setdefault(task_id, Lifetime())
            if life.state is None:
                task = codec.load(kv.value)
                if task.terminal:
                    life.state, life.finished_at = task.state.value, task.finished_at
        for task_id in self._live - present:
            self.tasks[task_id].deleted_at = now
        self._live = present
        return len(result.kvs)

    def deleted(self, ids: set[str]) -> bool:
        return all(i in self.tasks and self.tasks[i].deleted_at is not None for i in ids)


class Sampler:
    """etcd's database size and revision, the live task records, and the RSS of each
    process, every time `sample` is called."""

    def __init__(self, store: Store, pids: dict[str, int]) -> None:
        self.store = store
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: list[dict[str, Any]] = []
        self._start = time.monotonic()

    async def sample(self, records: int) -> None:
        status = await self.store.status()
        rss: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                rss[name] = process.memory_info().rss
            except psutil.Error:
                rss[name] = None  # exited: the test reports that on its own
        self.samples.append({"t": round(time.monotonic() - self._start, 1),
                             "db_size": status["db_size"],
                             "db_size_in_use": status["db_size_in_use"],
                             "revision": status["revision"], "records": records, "rss": rss})

    def series(self, field: str, *, after: float = 0.0,
               until: float = float("inf")) -> list[tuple[float, int]]:
        """(seconds since the first sample, value) of the samples taken in that window."""
        return [(s["t"], s[field]) for s in self.samples if after <= s["t"] <= until]


# kubetask's text log lines ("12:00:00 WARNING node logger: ..."), a traceback, one of
# etcd's JSON log lines at warn level or above, or one of its gRPC library's own lines.
_PROBLEM = re.compile(r"^\d\d:\d\d:\d\d (WARNING|ERROR|CRITICAL) |^Traceback "
                      r'|"level":"(warn|error|dpanic|panic|fatal)"|^(WARNING|ERROR): \d{4}/')
# etcd 3.5 logs this at every start while its auth token type is "simple" (the default),
# auth enabled or not; kubetask does not use etcd's auth. Nothing else is excused.
_EXPECTED = ('"msg":"simple token is not cryptographically signed"',)


def log_problems(path: Path) -> list[str]:
    """The lines of a process's log at warning level or above (and tracebacks)."""
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines()
            if _PROBLEM.search(line) and not any(e in line for e in _EXPECTED)]
