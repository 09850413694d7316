"""docker-compose.yml run for real (podman-compose, or docker compose): etcd (the local etcd
image here), one scheduler, worker-1..3, the dashboard; the seed's client command through
`run --rm client`; `--scale`; a worker container killed mid-task; `down -v`."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from typing import Any

from tests.containers.engine import Compose, run, wait_for

SEED = ["--queue=default", "--type=echo", "--name=test-task", "--priority=1", "--count=10"]


def live_workers(compose: Compose) -> dict[str, str]:
    """Worker id -> its container, for the workers the queue lists as alive (a worker id
    carries its host name, which podman sets to the container's short id)."""
    stats: Any = compose.kubetask("stats", "--queue", "default")
    ids = [w["id"] for w in (stats or {}).get("worker_stats", []) if w["state"] != "gone"]
    hosts = {run([compose.engine, "inspect", "--format", "{{.Config.Hostname}}", name],
                 timeout=30).stdout.strip(): name for name in compose.containers()}
    return {wid: hosts[wid.split("-")[1]] for wid in ids if wid.split("-")[1] in hosts}


def wait_workers(compose: Compose, count: int) -> dict[str, str]:
    def enough() -> dict[str, str] | None:
        workers = live_workers(compose)
        return workers if len(workers) >= count else None
    return wait_for(f"{count} workers registered", enough, timeout=90, interval=1)


def up(compose: Compose, workers: int = 3) -> dict[str, str]:
    compose("up", "-d", timeout=180)
    return wait_workers(compose, workers)


def test_seed_client_runs_ten_tasks_on_the_three_workers(compose: Compose) -> None:
    workers = up(compose)
    assert sorted(set(workers.values())) == compose.containers("worker-1") + \
        compose.containers("worker-2") + compose.containers("worker-3")
    ids = compose.submit(*SEED)
    assert len(ids) == 10
    tasks = compose.wait_finished(ids, timeout=90)
    assert Counter(t["state"] for t in tasks.values()) == {"succeeded": 10}
    assert {t["worker"] for t in tasks.values()} == set(workers)  # round robin: all three
    # the dashboard is published on the host; etcd's client port is not
    port = compose.env["DASHBOARD_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.status == 200
    etcd = compose.containers("etcd")[0]
    assert run([compose.engine, "port", etcd], timeout=30).stdout.strip() == ""


def test_scaled_workers_all_take_tasks(compose: Compose) -> None:
    up(compose)
    compose("up", "-d", "--scale", "worker-1=3", timeout=180)
    workers = wait_workers(compose, 5)
    assert len(compose.containers("worker-1")) == 3
    ids = compose.submit("--count=25", '--payload={"duration": 0.5}', "--name=scaled")
    tasks = compose.wait_finished(ids, timeout=90)
    assert Counter(t["state"] for t in tasks.values()) == {"succeeded": 25}
    assert {t["worker"] for t in tasks.values()} == set(workers)


def test_a_killed_worker_container_loses_no_task(compose: Compose) -> None:
    """kill -9 of a worker container while it runs tasks: they finish on the other workers
    (after its lease expires), every task succeeds."""
    workers = up(compose)
    victim = compose.containers("worker-2")[0]
    victim_ids = {wid for wid, name in workers.items() if name == victim}
    ids = compose.submit("--count=12", '--payload={"duration": 6}', "--name=kill-test")

    def running_on_victim() -> list[str] | None:
        tasks = compose.tasks(ids)
        mine = [i for i, t in tasks.items() if t["state"] == "running" and t["worker"] in victim_ids]
        return mine or None
    interrupted = wait_for("a task running on the victim", running_on_victim, timeout=60)
    run([compose.engine, "kill", "-s", "KILL", victim], timeout=30)

    tasks = compose.wait_finished(ids, timeout=120)
    assert Counter(t["state"] for t in tasks.values()) == {"succeeded": 12}
    for task_id in interrupted:  # running on the victim when it died: finished elsewhere
        task = tasks[task_id]
        assert task["worker"] not in victim_ids, json.dumps(task)
        assert any(h["worker"] in victim_ids for h in task["history"]), json.dumps(task)


def test_down_v_removes_containers_volume_and_network(compose: Compose) -> None:
    up(compose)
    assert compose.volumes() and compose.networks()
    ids = compose.submit("--count=1")
    compose.wait_finished(ids, timeout=60)
    compose("down", "-v", timeout=180)
    assert compose.containers(running=False) == []
    assert compose.volumes() == []
    assert compose.networks() == []
    assert compose.pods() == []
