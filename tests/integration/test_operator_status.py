"""The operator's status writer on a real etcd, with a recording stand-in for the Kubernetes
API: changes of one task within the linger become one status patch with the latest state."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from kubetask.client import AsyncClient
from kubetask.errors import TaskNotFound, ValidationError
from kubetask.etcd_process import EtcdProcess, free_port
from kubetask.model import TaskState
from kubetask.operator import mapping
from kubetask.operator.autoscaler import Autoscalers
from kubetask.operator.tasks import NamespaceTasks
from kubetask.store import Keyspace, Store


class RecordingKube:
    """Records what the operator would send to the API server."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.events: list[str] = []

    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: dict[str, Any]) -> None:
        self.patches.append((name, status))

    async def event(self, kind: str, namespace: str, name: str, uid: str, *, reason: str,
                    message: str, type_: str = "Normal") -> None:
        self.events.append(reason)

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        raise AssertionError("no Task here has a TTL")


def body(name: str, uid: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid, "generation": 1},
            "spec": {"type": "echo", "queue": "q"}}


async def until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_changes_within_the_linger_become_one_patch_with_the_latest_state(
        etcd: EtcdProcess, namespace: str) -> None:
    kube = RecordingKube()
    tasks = NamespaceTasks(namespace, AsyncClient(etcd.endpoint, namespace=namespace),
                           kube, linger=2.0)  # type: ignore[arg-type]
    await tasks.start()
    try:
        await tasks.seen(body("t1", "uid-1"))
        await tasks.seen(body("t1", "uid-1"))  # a retried handler: the same task
        (stored,) = await tasks.client.list()
        await tasks.client.cancel(stored.id)  # pending -> cancelled within the linger
        await until(lambda: kube.patches, "a patch")
        await asyncio.sleep(0.5)  # nothing else comes
        assert [(name, s["phase"]) for name, s in kube.patches] == [("t1", "Cancelled")]
        status = kube.patches[0][1]
        assert status["taskID"] == stored.id and status["observedGeneration"] == 1
        assert {c["type"]: c["status"] for c in status["conditions"]} == {"Finished": "True"}
        assert len(await tasks.client.list()) == 1
    finally:
        await tasks.stop()


async def test_a_task_of_a_queue_without_a_taskqueue_says_so_until_one_exists(
        etcd: EtcdProcess, namespace: str) -> None:
    kube = RecordingKube()
    tasks = NamespaceTasks(namespace, AsyncClient(etcd.endpoint, namespace=namespace),
                           kube, linger=0.05)  # type: ignore[arg-type]
    await tasks.start()
    try:
        await tasks.seen(body("t1", "uid-1"))
        await until(lambda: kube.patches, "a patch")
        (queue_ready,) = [c for c in kube.patches[-1][1]["conditions"]
                          if c["type"] == "QueueReady"]
        assert (queue_ready["status"], queue_ready["reason"]) == ("False", "NoTaskQueue")
        tasks.queue_changed("q", exists=True)
        await until(lambda: len(kube.patches) == 2, "the second patch")
        (queue_ready,) = [c for c in kube.patches[-1][1]["conditions"]
                          if c["type"] == "QueueReady"]
        assert queue_ready["status"] == "True"
    finally:
        await tasks.stop()


async def test_a_feed_that_ends_is_opened_again(etcd: EtcdProcess, namespace: str) -> None:
    kube = RecordingKube()
    tasks = NamespaceTasks(namespace, AsyncClient(etcd.endpoint, namespace=namespace),
                           kube, linger=0.05)  # type: ignore[arg-type]
    await tasks.start()
    try:
        await tasks.seen(body("t1", "uid-1"))
        await until(lambda: kube.patches, "the first patch")
        tasks._feed.close()  # as when its watch fails for good
        await asyncio.sleep(0.2)
        (stored,) = await tasks.client.list()
        await tasks.client.cancel(stored.id)
        await until(lambda: kube.patches[-1][1]["phase"] == "Cancelled", "the cancel's patch")
    finally:
        await tasks.stop()


def feed_logs(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "change feed of namespace" in r.getMessage()
            and text in r.getMessage()]


async def test_a_repeated_bug_in_the_change_feed_gives_up_instead_of_looping(
        etcd: EtcdProcess, namespace: str, store: Store, keys: Keyspace,
        caplog: pytest.LogCaptureFixture) -> None:
    kube = RecordingKube()
    tasks = NamespaceTasks(namespace, AsyncClient(etcd.endpoint, namespace=namespace),
                           kube, linger=0.05)  # type: ignore[arg-type]
    await tasks.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="kubetask"):
            await tasks.seen(body("t1", "uid-1"))
            # A record the feed cannot read: a bug on every change it sees (not etcd trouble).
            for i in range(100):  # bounded: 30 s; written again after each reopening
                await store.put(keys.task(f"garbage{i}"), b"not a task record")
                await asyncio.sleep(0.3)
                if feed_logs(caplog, ": giving up"):
                    break
            (gave_up,) = feed_logs(caplog, ": giving up")
            bugs = feed_logs(caplog, "failed unexpectedly")
            for i in range(5):  # more of the same: no more attempts once it gave up
                await store.put(keys.task(f"late{i}"), b"not a task record")
                await asyncio.sleep(0.3)
        assert len(feed_logs(caplog, "failed unexpectedly")) == len(bugs) == 3
        assert gave_up.exc_info is not None  # with its traceback
        assert tasks.failure is not None and "failed 3 times" in str(tasks.failure)
    finally:
        await tasks.stop()


async def test_a_feed_reopened_while_etcd_is_down_warns_once_and_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    own = EtcdProcess(tmp_path / "etcd", free_port(), free_port(), name="feed-etcd")
    own.start()
    kube = RecordingKube()
    tasks = NamespaceTasks("feed", AsyncClient(own.endpoint, namespace="feed"),
                           kube, linger=0.05)  # type: ignore[arg-type]
    await tasks.start()
    try:
        await tasks.seen(body("t1", "uid-1"))
        await until(lambda: kube.patches, "the first patch")
        with caplog.at_level(logging.DEBUG, logger="kubetask"):
            own.stop()
            tasks._feed.close()  # its watch ended: reopened while etcd is down
            for _ in range(100):  # bounded: 20 s, until a few reopenings failed
                if len(feed_logs(caplog, "failed again")) >= 2:
                    break
                await asyncio.sleep(0.2)
            own.start()
            (stored,) = await tasks.client.list()
            await tasks.client.cancel(stored.id)
            await until(lambda: kube.patches[-1][1]["phase"] == "Cancelled", "the cancel's patch")
        warnings = [r.getMessage() for r in feed_logs(caplog, "failed")
                    if r.levelno == logging.WARNING]
        # once per cause: its end (closed above), then etcd unreachable however often
        assert len(warnings) == 2 and "the change feed ended" in warnings[0], warnings
        assert "StoreUnavailable" in warnings[1], warnings
        assert len(feed_logs(caplog, "failed again")) >= 2
        assert feed_logs(caplog, "works again")
        assert tasks.failure is None
    finally:
        await tasks.stop()
        own.stop()


async def test_a_task_deleted_before_its_first_status_is_found_by_its_uid_and_cancelled(
        etcd: EtcdProcess, namespace: str, client: AsyncClient) -> None:
    """An operator submitted the Task, then died before writing its status (no taskID);
    the Task was deleted before an operator came back: the new one finds the task by its
    idempotency key (the uid, in the Task's queue) and cancels it."""
    submitted = body("t1", "uid-gap")
    (task,) = await client.submit_many([mapping.task_spec("t1", "uid-gap", submitted["spec"])])
    kube = RecordingKube()
    restarted = NamespaceTasks(namespace, AsyncClient(etcd.endpoint, namespace=namespace),
                               kube, linger=0.05)  # type: ignore[arg-type]
    await restarted.start()
    try:
        await restarted.deleted(submitted)  # no status: never written
        assert (await client.get(task.id)).state is TaskState.CANCELLED
        await restarted.deleted(body("t2", "uid-never-submitted"))  # nothing to cancel
        assert [t.id for t in await client.list()] == [task.id]
    finally:
        await restarted.stop()


async def test_get_by_key_finds_a_task_by_its_idempotency_key_in_its_queue(
        client: AsyncClient) -> None:
    task = await client.submit("echo", queue="q1", key="k-1")
    assert (await client.get_by_key("k-1", queue="q1")).id == task.id
    with pytest.raises(TaskNotFound, match="no task with idempotency key 'k-1' in queue 'q2'"):
        await client.get_by_key("k-1", queue="q2")
    with pytest.raises(ValidationError):
        await client.get_by_key("k-1", queue="no such queue")


async def test_the_autoscaler_says_once_that_etcd_is_unreachable_and_when_it_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Its tick comes every few seconds: while etcd is down, one WARNING, the other ticks at
    debug; the first decision after says at INFO that etcd is back."""
    own = EtcdProcess(tmp_path / "etcd", free_port(), free_port(), name="scale-etcd")
    own.start()
    scaling = Autoscalers(lambda: None, settle_seconds=0)  # type: ignore[arg-type,return-value]
    queue = {"metadata": {"name": "q", "namespace": "ns", "uid": "uid-q"},
             "spec": {"scaling": {"enabled": False}}, "status": {}}
    client = AsyncClient(own.endpoint, namespace="scale", timeout=1)
    await client.start()
    try:
        await client.submit("echo", queue="q")
        own.stop()
        with caplog.at_level(logging.DEBUG, logger="kubetask.operator.autoscaler"):
            for _ in range(3):
                assert await scaling.reconcile(client, queue) == ({}, None)
            own.start()
            status, _ = await scaling.reconcile(client, queue)
    finally:
        await client.close()
        own.stop()
    said = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "kubetask.operator.autoscaler"]
    assert [level for level, _ in said] == [logging.WARNING, logging.DEBUG, logging.DEBUG,
                                            logging.INFO], said
    assert said[0][1].startswith("queue ns/q: no scale decision, etcd unreachable: ")
    assert said[3][1].startswith("queue ns/q: etcd reachable again after ")
    assert status  # the decision was made
