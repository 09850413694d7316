"""The restart rule and the Supervisor: etcd trouble restarts, a bug is logged with its
traceback and gives up when it repeats, services come and go at runtime."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubetask.errors import ServiceFailed, StoreError, StoreUnavailable
from kubetask.service import BackgroundService
from kubetask.supervisor import RestartPolicy, Restarts, Supervisor

QUICK = RestartPolicy(first_delay=0.001, max_delay=0.002)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Bug(Exception):
    pass


class FakeService(BackgroundService):
    """Runs until told to fail (with the next exception of `failures`) or stopped."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.starts = 0
        self.stops = 0
        self.running = asyncio.Event()

    async def _run(self) -> None:
        self.running.set()
        try:
            if self.failures:
                raise self.failures.pop(0)
            await asyncio.get_running_loop().create_future()
        finally:
            self.running.clear()

    async def start(self) -> None:
        self.starts += 1
        await super().start()

    async def stop(self) -> None:
        self.stops += 1
        await super().stop()


async def until(condition: object, what: str) -> None:
    try:
        async with asyncio.timeout(5):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


# --- the rule ------------------------------------------------------------------------------
def test_store_errors_restart_for_as_long_as_they_last() -> None:
    restarts = Restarts("loop", QUICK, clock=Clock())
    for _ in range(50):
        assert 0 < restarts.failed(StoreUnavailable("etcd down")) <= QUICK.max_delay
    assert restarts.restarts == 50


def test_a_bug_is_logged_with_its_traceback_and_gives_up_when_it_repeats(
        caplog: pytest.LogCaptureFixture) -> None:
    restarts = Restarts("loop", QUICK, clock=Clock())
    for _ in range(2):
        try:
            raise Bug("off by one")
        except Bug as exc:
            restarts.failed(exc)
    with pytest.raises(ServiceFailed, match="loop failed 3 times") as info:
        restarts.failed(Bug("off by one"))
    assert isinstance(info.value.__cause__, Bug)
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(records) == 3
    assert all(r.exc_info and r.exc_info[0] is Bug for r in records)
    assert "Traceback" in caplog.text and "off by one" in caplog.text


def test_a_bug_beside_the_loop_counts_with_the_loop_s_own_and_names_where() -> None:
    restarts = Restarts("worker w1", QUICK, clock=Clock())
    restarts.failed(Bug("in a session"))
    restarts.bug(Bug("in a hook"), "the attempt of task t1")  # logged, no restart
    assert restarts.restarts == 1
    with pytest.raises(ServiceFailed, match=r"worker w1 failed 3 times within 60s "
                       r"\(last in the attempt of task t2: Bug: again\)"):
        restarts.bug(Bug("again"), "the attempt of task t2")


def test_bugs_further_apart_than_the_window_do_not_give_up() -> None:
    clock = Clock()
    restarts = Restarts("loop", QUICK, clock=clock)
    for _ in range(10):
        restarts.failed(Bug("rare"))
        clock.now += QUICK.window / 2 + 1  # at most two within any window
    assert restarts.restarts == 10


def test_a_group_restarts_only_when_every_failure_in_it_is_a_store_error(
        caplog: pytest.LogCaptureFixture) -> None:
    restarts = Restarts("term", RestartPolicy(max_failures=1), clock=Clock())
    restarts.failed(ExceptionGroup("loops", [StoreError("a"), StoreUnavailable("b")]))
    with pytest.raises(ServiceFailed):
        restarts.failed(ExceptionGroup("loops", [StoreError("a"), Bug("hidden")]))
    assert "Bug: hidden" in caplog.text  # neither is lost


def test_a_service_that_gave_up_below_is_not_restarted_again() -> None:
    restarts = Restarts("outer", QUICK, clock=Clock())
    with pytest.raises(ServiceFailed, match="inner"):
        restarts.failed(ServiceFailed("inner gave up"))


def test_a_policy_with_no_room_for_failures_is_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        RestartPolicy(max_failures=0)


async def test_run_repeats_a_loop_and_stops_on_a_repeated_bug() -> None:
    calls: list[str] = []

    async def once() -> None:
        calls.append("run")
        if len(calls) <= 2:
            raise StoreUnavailable("etcd down")
        if len(calls) <= 4:
            return  # a session that ended normally: again at once
        raise Bug("boom")

    with pytest.raises(ServiceFailed):
        await asyncio.wait_for(Restarts("loop", QUICK, clock=Clock()).run(once), 5)
    assert len(calls) == 7  # 2 store errors, 2 clean ends, 3 bugs


# --- the supervisor ----------------------------------------------------------------------------
async def test_supervisor_restarts_a_service_that_fails_with_a_store_error() -> None:
    service = FakeService(StoreUnavailable("etcd down"), StoreError("again"))
    async with Supervisor(QUICK) as supervisor:
        supervisor.add("scheduler", service)
        await until(lambda: service.starts == 3 and service.running.is_set(), "third start")
    assert service.stops >= 3 and not service.running.is_set()


async def test_supervisor_gives_up_on_a_repeated_bug_and_stops_everything() -> None:
    buggy = FakeService(Bug("one"), Bug("two"))
    healthy = FakeService()
    supervisor = Supervisor(RestartPolicy(max_failures=2, first_delay=0.001, max_delay=0.002))
    supervisor.add("healthy", healthy)
    supervisor.add("buggy", buggy)
    await supervisor.start()
    with pytest.raises(ServiceFailed, match="buggy failed 2 times"):
        await asyncio.wait_for(supervisor.wait(), 5)
    assert healthy.running.is_set()
    await supervisor.stop()
    assert not healthy.running.is_set() and healthy.stops >= 1
    assert buggy.starts == 2


async def test_supervisor_adds_and_removes_services_while_it_runs() -> None:
    first, second = FakeService(), FakeService()
    async with Supervisor(QUICK) as supervisor:
        supervisor.add("queue-a", first)
        await until(first.running.is_set, "queue-a running")
        supervisor.add("queue-b", second)
        await until(second.running.is_set, "queue-b running")
        with pytest.raises(ValueError, match="queue-a"):
            supervisor.add("queue-a", FakeService())
        await supervisor.remove("queue-a")
        assert not first.running.is_set() and second.running.is_set()
        assert supervisor.names == ["queue-b"] and "queue-a" not in supervisor
        with pytest.raises(KeyError, match="queue-a"):
            await supervisor.remove("queue-a")
    assert not second.running.is_set()


async def test_supervisor_start_failure_stops_what_it_started() -> None:
    class Unstartable(FakeService):
        async def start(self) -> None:
            raise OSError("port in use")

    started = FakeService()
    supervisor = Supervisor(QUICK)
    supervisor.add("started", started)
    supervisor.add("unstartable", Unstartable())
    with pytest.raises(OSError, match="port in use"):
        await supervisor.start()
    assert started.starts == 1 and started.stops == 1 and not started.running.is_set()


async def test_supervisor_wait_returns_after_stop() -> None:
    supervisor = Supervisor(QUICK)
    supervisor.add("one", FakeService())
    await supervisor.start()
    waiter = asyncio.create_task(supervisor.wait())
    await supervisor.stop()
    await asyncio.wait_for(waiter, 5)
