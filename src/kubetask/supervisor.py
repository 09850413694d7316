"""One restart rule for every long-running loop and service, and a Supervisor that runs
services by it.

The rule (RestartPolicy): a failure of the kinds in `restart_on` (etcd trouble) restarts,
after a backoff, for as long as it lasts. Any other failure is a bug: it is logged with
its traceback (every exception of a group) and restarted too, but the `max_failures`-th
within `window` seconds gives up with ServiceFailed, which ends the process non-zero
instead of looping on the bug forever.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from kubetask.errors import ServiceFailed, StoreError
from kubetask.model.backoff import Backoff
from kubetask.service import Lifecycle, Service

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    restart_on: tuple[type[Exception], ...] = (StoreError,)
    max_failures: int = 3  # other failures within `window` seconds that give up
    window: float = 60.0
    first_delay: float = 0.2  # backoff before a restart: doubles up to max_delay
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= 0:
            raise ValueError("a restart policy needs max_failures >= 1 and window > 0")

    def restartable(self, exc: BaseException) -> bool:
        """True for a failure of the kinds in `restart_on` (a group: all of its own)."""
        if isinstance(exc, BaseExceptionGroup):
            return all(self.restartable(e) for e in exc.exceptions)
        return isinstance(exc, self.restart_on)


def describe(exc: BaseException) -> str:
    """One line for a failure; every exception of a group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


class Restarts:
    """The restarts of one loop or service under a policy: its backoff, its recent bugs."""

    def __init__(self, name: str, policy: RestartPolicy | None = None, *,
                 clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.name = name
        self.policy = policy or RestartPolicy()
        self.backoff = Backoff(self.policy.first_delay, self.policy.max_delay,
                               reset_after=self.policy.window, rng=rng, clock=clock)
        self.restarts = 0
        self._clock = clock
        self._bugs: collections.deque[float] = collections.deque()

    def failed(self, exc: Exception) -> float:
        """The delay before restarting after `exc`. Raises ServiceFailed (from `exc`) when
        the policy gives up, or when `exc` is a ServiceFailed itself (given up below)."""
        if isinstance(exc, ServiceFailed):
            raise exc
        delay = self.backoff.next()
        if self.policy.restartable(exc):
            log.warning("%s: %s; restarting in %.1fs", self.name, describe(exc), delay)
        else:
            self.bug(exc, then=f"restarting in {delay:.1f}s")
        self.restarts += 1
        return delay

    def bug(self, exc: BaseException, where: str | None = None, *, then: str = "") -> None:
        """Note a failure of a kind not to restart on (a bug), here or in work the service
        runs beside its loop (`where`): logged with its traceback. Raises ServiceFailed
        (from `exc`) when it is the policy's `max_failures`-th within its window."""
        now = self._clock()
        self._bugs.append(now)
        while now - self._bugs[0] > self.policy.window:
            self._bugs.popleft()
        count, limit, window = len(self._bugs), self.policy.max_failures, self.policy.window
        place = f" in {where}" if where else ""
        if count >= limit:
            log.error("%s failed unexpectedly%s, %d times within %gs: giving up", self.name,
                      place, count, window, exc_info=exc)
            raise ServiceFailed(f"{self.name} failed {count} times within {window:g}s "
                                f"(last{place}: {describe(exc)}); see the log for the "
                                "tracebacks") from exc
        log.error("%s failed unexpectedly%s (%d of %d within %gs before giving up)%s",
                  self.name, place, count, limit, window, f"; {then}" if then else "",
                  exc_info=exc)

    def succeeded(self) -> None:
        self.backoff.reset()

    async def run(self, once: Callable[[], Awaitable[None]]) -> NoReturn:
        """Run `once` again and again: at once after it returns, after the backoff after it
        fails (by the policy); until cancelled or given up (ServiceFailed)."""
        while True:
            try:
                await once()
            except Exception as exc:
                delay = self.failed(exc)
            else:
                self.succeeded()
                continue
            await asyncio.sleep(delay)


class Supervisor(Lifecycle):
    """Runs named services by one RestartPolicy, and is a service itself.

    start() starts those added so far (a failure there stops them and is raised); add() and
    remove() work while it runs too. A service whose wait() fails is stopped and, by the
    policy, started again after a backoff; one that ends cleanly is left ended. stop()
    stops them all, the last added first. wait() raises ServiceFailed once a service gave
    up (the caller then stops the supervisor), and returns after stop().
    """

    def __init__(self, policy: RestartPolicy | None = None, *, clock: Clock = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._rng = rng
        self._services: dict[str, Service] = {}
        self._keepers: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._done = asyncio.Event()
        self._failure: ServiceFailed | None = None

    @property
    def names(self) -> list[str]:
        return list(self._services)

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def add(self, name: str, service: Service) -> None:
        """Run `service` as `name` (started now when the supervisor runs)."""
        if name in self._services:
            raise ValueError(f"a service named {name!r} is supervised already; remove it first")
        self._services[name] = service
        if self._running:
            self._keep(name, started=False)

    async def remove(self, name: str) -> None:
        """Stop the service `name` and forget it."""
        if name not in self._services:
            raise KeyError(f"no service named {name!r} (supervised: {', '.join(self._services)})")
        service = self._services.pop(name)
        keeper = self._keepers.pop(name, None)
        if keeper is not None:
            await _end(keeper, name)
        await service.stop()

    async def start(self) -> None:
        if self._running:
            return
        self._failure = None
        started: list[str] = []
        try:
            for name, service in list(self._services.items()):
                await service.start()
                started.append(name)
        except BaseException:
            for name in reversed(started):
                await self._services[name].stop()
            raise
        self._running = True
        self._done.clear()
        for name in started:
            self._keep(name, started=True)

    async def stop(self) -> None:
        self._running = False
        for name in reversed(list(self._keepers)):
            await _end(self._keepers.pop(name), name)
            await self._services[name].stop()  # here, not in the cancelled keeper
        self._done.set()

    async def wait(self) -> None:
        await self._done.wait()
        if self._failure is not None:
            raise self._failure

    def _keep(self, name: str, *, started: bool) -> None:
        service = self._services[name]
        self._keepers[name] = asyncio.create_task(self._watch(name, service, started),
                                                  name=f"supervise {name}")

    async def _watch(self, name: str, service: Service, started: bool) -> None:
        """Wait on `service`, restart it by the policy; record it when it gives up. Stopping
        it for good is the caller's (stop(), remove()): never done in a cancelled task."""
        restarts = Restarts(name, self.policy, clock=self._clock, rng=self._rng)
        try:
            while True:
                try:
                    if not started:
                        await service.start()
                        started = True
                    await service.wait()
                    log.info("%s ended", name)
                    return
                except Exception as exc:
                    delay = restarts.failed(exc)
                started = False
                await service.stop()
                await asyncio.sleep(delay)
        except ServiceFailed as exc:
            self._give_up(exc)
        except Exception as exc:  # a stop() that failed: the supervisor cannot go on
            self._give_up(ServiceFailed(f"{name} could not be restarted: {describe(exc)}"))
            raise

    def _give_up(self, failure: ServiceFailed) -> None:
        self._failure = self._failure or failure
        self._done.set()


async def _end(keeper: asyncio.Task[None], name: str) -> None:
    keeper.cancel()
    await asyncio.wait({keeper})
    if not keeper.cancelled() and keeper.exception() is not None:
        log.error("%s did not stop cleanly", name, exc_info=keeper.exception())
