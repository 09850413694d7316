"""The ledger of a fault test: what etcd's history and the executors' sink say happened.

`read_history` replays every revision of the namespace from etcd's own log (no sampling:
each transaction's events arrive together), and `Ledger` checks, revision by revision:
- no task ever has two live assignments (two leaders, or a double dispatch, would show);
- every attempt end a worker wrote (succeeded, failed, cancelled, handed back) was fenced:
  in the revision before it, the assignment key of that worker still existed at exactly
  the token recorded in the attempt;
- a terminal record is never rewritten (except dead -> pending by `task retry`);
- how many times each task's record became `succeeded` (must be at most once).
`verdict` then adds the final records and the sink: 0 tasks lost, 0 duplicate results
accepted, and the accepted result is the side effect of the committed attempt only.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetask.model import Task, TaskState
from kubetask.queue import codec
from kubetask.store import Event, Get, Keyspace, KeyValue, Store, Watch

_WORKER_ENDS = {"succeeded", "failed", "cancelled", "handed-back"}


async def read_history(store: Store, keys: Keyspace, start_revision: int = 1,
                       timeout: float = 30) -> tuple[list[KeyValue], list[Event]]:
    """The namespace at `start_revision - 1` and every event after it, up to now."""
    marker = await store.put(f"{keys.root}~audit-marker", b"")
    initial: list[KeyValue] = []
    if start_revision > 1:
        initial = (await store.range(Get(keys.root, prefix=True),
                                     revision=start_revision - 1)).kvs
    events: list[Event] = []
    watch = Watch(store, keys.root, start_revision=start_revision)

    async def collect() -> None:
        async for batch in watch:
            events.extend(batch)
            if batch[-1].kv.mod_revision >= marker:
                return
    try:
        await asyncio.wait_for(collect(), timeout)
    finally:
        watch.close()
    return initial, events


@dataclass
class Ledger:
    keys: Keyspace
    double_assignments: list[str] = field(default_factory=list)
    unfenced_ends: list[str] = field(default_factory=list)
    terminal_rewrites: list[str] = field(default_factory=list)
    succeeded_commits: Counter[str] = field(default_factory=Counter)
    dispatches: Counter[str] = field(default_factory=Counter)
    revisions: int = 0
    # task -> its live assignment keys -> (worker, token)
    _assigned: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    _records: dict[str, Task] = field(default_factory=dict)

    @classmethod
    def replay(cls, keys: Keyspace, initial: list[KeyValue], events: list[Event]) -> Ledger:
        ledger = cls(keys)
        for kv in initial:
            ledger._apply(Event(True, kv, None))
        revision = 0
        group: list[Event] = []
        for event in events:
            if event.kv.mod_revision != revision and group:
                ledger._revision(group)
                group = []
            revision = event.kv.mod_revision
            group.append(event)
        if group:
            ledger._revision(group)
        return ledger

    def _parse(self, key: str) -> tuple[str, str, str] | None:
        rest = key[len(self.keys.root):]
        parts = rest.split("/")
        if len(parts) == 6 and parts[0] == "q" and parts[2] == "assign":
            return "assign", parts[3], parts[5]  # q/<queue>/assign/<worker>/<lease>/<id>
        if parts[0] == "tasks" and len(parts) == 2:
            return "task", "", parts[1]
        return None

    def _revision(self, group: list[Event]) -> None:
        """Check one transaction against the state before it, then apply it."""
        self.revisions += 1
        deleted = {e.key for e in group if not e.put}
        for event in group:
            parsed = self._parse(event.key)
            if parsed is None or not event.put:
                continue
            kind, worker, task_id = parsed
            if kind == "assign":
                self.dispatches[task_id] += 1
                live = [w for key, (w, _) in self._assigned.get(task_id, {}).items()
                        if key not in deleted]
                if live:
                    self.double_assignments.append(
                        f"{task_id} to {worker} at rev {event.kv.mod_revision} while assigned "
                        f"to {live}")
            else:
                self._check_record(task_id, codec.load(event.kv.value), event.kv.mod_revision)
        for event in group:
            self._apply(event)

    def _check_record(self, task_id: str, after: Task, revision: int) -> None:
        before = self._records.get(task_id)
        if before is not None and before.terminal and not (
                before.state is TaskState.DEAD and after.state is TaskState.PENDING):
            self.terminal_rewrites.append(f"{task_id}: {before.state.value} -> "
                                          f"{after.state.value} at rev {revision}")
        if after.state is TaskState.SUCCEEDED and (before is None or not before.terminal):
            self.succeeded_commits[task_id] += 1
        grew = before is None or len(after.history) > len(before.history)
        if not (grew and after.history):
            return
        attempt = after.history[-1]
        if attempt.outcome in _WORKER_ENDS:
            tokens = [t for w, t in self._assigned.get(task_id, {}).values()
                      if w == attempt.worker]
            token = tokens[0] if len(tokens) == 1 else None
            if token != attempt.token:
                self.unfenced_ends.append(
                    f"{task_id}: {attempt.outcome} by {attempt.worker} with token "
                    f"{attempt.token} at rev {revision}, live assignment token {token}")

    def _apply(self, event: Event) -> None:
        parsed = self._parse(event.key)
        if parsed is None:
            return
        kind, worker, task_id = parsed
        if kind == "assign":
            holders = self._assigned.setdefault(task_id, {})
            if event.put:
                holders[event.key] = (worker, event.kv.mod_revision)
            else:
                holders.pop(event.key, None)
        elif event.put:
            self._records[task_id] = codec.load(event.kv.value)


def read_sink(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class Verdict:
    tasks: int
    lost: int
    duplicates_accepted: int
    attempts: int  # attempts recorded in the tasks' history (all outcomes)
    lost_attempts: int  # attempts ended by a lost worker
    executions: int  # executor runs seen in the sink (at-least-once: may exceed tasks)
    rejected_side_effects: int  # finished runs whose token is not the committed one

    def figures(self) -> dict[str, int]:
        return {"tasks": self.tasks, "lost": self.lost,
                "duplicates_accepted": self.duplicates_accepted, "attempts": self.attempts,
                "lost_attempts": self.lost_attempts, "executions": self.executions,
                "rejected_side_effects": self.rejected_side_effects}


def verdict(submitted: set[str], tasks: dict[str, Task], ledger: Ledger,
            sink: list[dict[str, Any]], *, expect: TaskState | None = TaskState.SUCCEEDED
            ) -> Verdict:
    """Assert the two numbers every fault test is about, and gather the rest."""
    lost = sorted(i for i in submitted if i not in tasks or not tasks[i].terminal)
    assert not lost, f"{len(lost)} tasks lost (not terminal): {lost[:5]}"
    created = set(tasks) - submitted
    assert not created, f"{len(created)} tasks exist that no submit returned: {sorted(created)[:5]}"
    if expect is not None:
        other = {i: tasks[i].state.value for i in submitted if tasks[i].state is not expect}
        assert not other, f"tasks not {expect.value}: {dict(list(other.items())[:5])}"
    assert not ledger.double_assignments, ledger.double_assignments[:5]
    assert not ledger.unfenced_ends, ledger.unfenced_ends[:5]
    assert not ledger.terminal_rewrites, ledger.terminal_rewrites[:5]
    many = {i: n for i, n in ledger.succeeded_commits.items() if n > 1}
    assert not many, f"results accepted more than once: {many}"
    in_history = {i: n for i, t in tasks.items()
                  if (n := sum(a.outcome == "succeeded" for a in t.history)) > 1}
    assert not in_history, f"several succeeded attempts recorded: {in_history}"

    done = {(e["task"], e["token"]) for e in sink if e["ev"] == "done"}
    for task_id in submitted:
        task = tasks[task_id]
        if task.state is not TaskState.SUCCEEDED or task.type not in ("fault", "fault-async"):
            continue
        committed = task.history[-1]
        assert committed.outcome == "succeeded", (task_id, committed)
        assert task.result["token"] == committed.token, (
            f"{task_id}: result from token {task.result['token']}, committed attempt "
            f"token {committed.token}")
        assert (task_id, committed.token) in done, f"{task_id}: committed run not in the sink"
    finals = {i: tasks[i].history[-1].token for i in submitted
              if tasks[i].state is TaskState.SUCCEEDED and tasks[i].history}
    rejected = sum(1 for task_id, token in done
                   if task_id in finals and token != finals[task_id])
    return Verdict(
        tasks=len(submitted), lost=len(lost), duplicates_accepted=0,
        attempts=sum(len(tasks[i].history) for i in submitted),
        lost_attempts=sum(a.outcome == "lost" for i in submitted for a in tasks[i].history),
        executions=sum(1 for e in sink if e["ev"] == "start"),
        rejected_side_effects=rejected)


async def audit(system_store: Store, keys: Keyspace, submitted: set[str],
                tasks: dict[str, Task], sink_path: Path, *, start_revision: int = 1,
                expect: TaskState | None = TaskState.SUCCEEDED) -> Verdict:
    initial, events = await read_history(system_store, keys, start_revision)
    ledger = Ledger.replay(keys, initial, events)
    assert ledger.revisions > 0
    return verdict(submitted, tasks, ledger, read_sink(sink_path), expect=expect)
