"""etcd with TLS client-certificate auth, and with user/password auth: every component
connects when configured and is refused (one line, non-zero exit, nothing written) when not;
a worker's role cannot write another queue's keys."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubetask.errors import StoreError
from kubetask.etcd_process import EtcdProcess, find_etcd, free_port
from kubetask.model import EtcdCredentials
from kubetask.store import Get, Keyspace, LeaseKeeper, Store, Watch
from kubetask.store.roles import create_roles, create_user, enable_auth, layout, role_name
from tests.conftest import ROOT, run_cli
from tests.harness import Proc
from tests.k8s.pki import KeyPair, TestPki

pytestmark = pytest.mark.etcd

HACK_ETCD = ROOT / "hack" / "bin" / "etcd"  # etcd 3.6 (hack/kube-tools/build.sh)
ROOT_PASSWORD = "root-secret"


class SecureEtcd(EtcdProcess):
    """An etcd whose clients speak TLS; health is read on a plain metrics port."""

    metrics_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"localhost:{self.client_port}"  # a name: TLS checks it in the certificate

    def command(self) -> list[str]:
        command = super().command()
        command[0] = str(HACK_ETCD) if HACK_ETCD.exists() else find_etcd()
        return [*command, "--listen-metrics-urls", f"http://127.0.0.1:{self.metrics_port}"]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/health",
                                        timeout=1) as response:
                return b'"health":"true"' in response.read()
        except OSError:
            return False


def start_etcd(base: Path, extra: list[str], *, tls: bool) -> SecureEtcd:
    port = free_port()
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    etcd = SecureEtcd(base / "data", port, free_port(), name="secure",
                      extra_args=["--listen-client-urls", url, "--advertise-client-urls", url,
                                  "--auth-token-ttl", "2", *extra])
    etcd.metrics_port = free_port()
    etcd.start(timeout=30)
    return etcd


@dataclass
class Tls:
    etcd: SecureEtcd
    pki: TestPki
    client: KeyPair


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    base = tmp_path_factory.mktemp("etcd-tls")
    pki = TestPki(base / "pki")
    serving = pki.serving("etcd")
    etcd = start_etcd(base, ["--cert-file", str(serving.cert), "--key-file", str(serving.key),
                             "--client-cert-auth", "--trusted-ca-file", str(pki.ca.cert)],
                      tls=True)
    yield Tls(etcd, pki, pki.client("kubetask", "kubetask"))
    etcd.stop()


@pytest.fixture(scope="module")
def auth_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureEtcd]:
    """A plain-text etcd with auth on: root, and per-namespace roles and users."""
    etcd = start_etcd(tmp_path_factory.mktemp("etcd-auth"), [], tls=False)

    async def setup() -> None:
        keys = Keyspace(namespace="auth")
        async with Store([etcd.endpoint]) as store:
            await create_roles(store, layout(keys, ["a", "b"]))
            for part in ("scheduler", "client", "reader", "worker-a"):
                await create_user(store, part, f"{part}-pw", [role_name(keys, part)])
            await enable_auth(store, ROOT_PASSWORD)
    asyncio.run(setup())
    yield etcd
    etcd.stop()


def env_of(endpoint: str, namespace: str, **security: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETASK_")}
    env.update(KUBETASK_ETCD_ENDPOINTS=endpoint, KUBETASK_NAMESPACE=namespace,
               PYTHONPATH=str(ROOT))
    env.update({f"KUBETASK_ETCD_{k.upper()}": v for k, v in security.items()})
    return env


def tls_env(tls: Tls, namespace: str) -> dict[str, str]:
    return env_of(tls.etcd.endpoint, namespace, cacert=str(tls.pki.ca.cert),
                  cert=str(tls.client.cert), key=str(tls.client.key))


def user_env(etcd: EtcdProcess, user: str, namespace: str = "auth") -> dict[str, str]:
    return env_of(etcd.endpoint, namespace, user=user, password=f"{user}-pw")


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(timeout=20)


def run_system(tmp_path: Path, processes: list[Proc], scheduler_env: dict[str, str],
               worker_env: dict[str, str], client_env: dict[str, str], queue: str) -> None:
    """A scheduler, a worker and `kubetask client --wait`: the task succeeds."""
    processes.append(Proc(["scheduler", f"--queue={queue}"], scheduler_env,
                          tmp_path / "scheduler.log"))
    processes.append(Proc(["worker", f"--queue={queue}"], worker_env, tmp_path / "worker.log"))
    result = run_cli(["client", f"--queue={queue}", "--type=echo", "--count=3", "--wait",
                      "--timeout=60"], client_env, timeout=90)
    assert result.returncode == 0, result.stderr + (tmp_path / "worker.log").read_text()
    assert "succeeded=3" in result.stderr


def test_scheduler_worker_and_client_run_a_task_over_tls(tls: Tls, tmp_path: Path,
                                                         processes: list[Proc]) -> None:
    env = tls_env(tls, "tls")
    run_system(tmp_path, processes, env, env, env, "default")


async def revision(etcd: EtcdProcess, credentials: EtcdCredentials) -> int:
    async with Store([etcd.endpoint], credentials=credentials) as store:
        return await store.revision()


COMMANDS = [["client", "--type=echo"], ["task", "list"], ["stats"], ["queue", "show"],
            ["queue", "set", "q", "--max-retries=1"], ["task", "cancel", "0" * 24]]


def assert_refused(env: dict[str, str], expected: str) -> None:
    for command in COMMANDS:
        result = run_cli(command, env, timeout=30)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0, (command, result.stdout)
        assert len(lines) == 1 and expected in lines[0], (command, result.stderr)


def dashboard_tasks(tmp_path: Path, processes: list[Proc], env: dict[str, str]) -> Any:
    """The task list a `kubetask dashboard` (on any free port) serves over its API."""
    log = tmp_path / "dashboard.log"
    processes.append(Proc(["dashboard", "--port=0"], env, log))
    deadline = time.monotonic() + 30
    while not (found := re.search(r"dashboard: (http://\S+/) ", log.read_text())):
        assert time.monotonic() < deadline and processes[-1].popen.poll() is None, log.read_text()
        time.sleep(0.1)
    with urllib.request.urlopen(f"{found.group(1)}api/v1/tasks", timeout=10) as response:
        return json.loads(response.read())


def test_the_dashboard_reads_over_tls(tls: Tls, tmp_path: Path,
                                      processes: list[Proc]) -> None:
    env = tls_env(tls, "tls-board")
    submitted = run_cli(["client", "--type=echo", "--name=seen"], env)
    assert submitted.returncode == 0, submitted.stderr
    listed = dashboard_tasks(tmp_path, processes, env)
    assert [t["name"] for t in listed["tasks"]] == ["seen"], listed


def test_tls_etcd_refuses_clients_without_the_right_certificates(tls: Tls) -> None:
    admin = EtcdCredentials(cacert=str(tls.pki.ca.cert), cert=str(tls.client.cert),
                            key=str(tls.client.key))
    before = asyncio.run(revision(tls.etcd, admin))
    assert_refused(env_of(tls.etcd.endpoint, "tls"), "no connection within")  # plain text
    # TLS, but no client certificate: etcd's --client-cert-auth refuses the handshake.
    assert_refused(env_of(tls.etcd.endpoint, "tls", cacert=str(tls.pki.ca.cert)),
                   "no connection within")
    other = TestPki(tls.pki.directory.parent / "other-pki")  # a CA etcd does not trust
    stranger = other.client("stranger", "stranger")
    assert_refused(env_of(tls.etcd.endpoint, "tls", cacert=str(tls.pki.ca.cert),
                          cert=str(stranger.cert), key=str(stranger.key)),
                   "no connection within")
    assert_refused(env_of(tls.etcd.endpoint, "tls", cacert=str(other.ca.cert),
                          cert=str(tls.client.cert), key=str(tls.client.key)),
                   "no connection within")
    assert asyncio.run(revision(tls.etcd, admin)) == before  # nothing written


def test_components_run_a_task_with_etcd_users(auth_etcd: SecureEtcd, tmp_path: Path,
                                               processes: list[Proc]) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("worker-a-pw\n")
    worker_env = env_of(auth_etcd.endpoint, "auth", user="worker-a",
                        password_file=str(password_file))
    run_system(tmp_path, processes, user_env(auth_etcd, "scheduler"), worker_env,
               user_env(auth_etcd, "client"), "a")
    shown = run_cli(["task", "list", "--json"], user_env(auth_etcd, "reader"))
    assert shown.returncode == 0, shown.stderr
    assert [t["state"] for t in json.loads(shown.stdout)] == ["succeeded"] * 3
    refused = run_cli(["queue", "set", "a", "--max-retries=1"], user_env(auth_etcd, "reader"))
    assert refused.returncode != 0
    assert "etcd denied permission to reader" in refused.stderr.strip().splitlines()[0]
    logs = (tmp_path / "scheduler.log").read_text() + (tmp_path / "worker.log").read_text()
    assert "denied" not in logs and "Traceback" not in logs, logs


def test_etcd_with_auth_refuses_missing_or_wrong_users(auth_etcd: SecureEtcd) -> None:
    root = EtcdCredentials(user="root", password=ROOT_PASSWORD)
    before = asyncio.run(revision(auth_etcd, root))
    assert_refused(env_of(auth_etcd.endpoint, "auth"), "etcd requires authentication")
    assert_refused(env_of(auth_etcd.endpoint, "auth", user="client", password="wrong"),
                   "etcd refused user 'client': wrong user name or password")
    assert asyncio.run(revision(auth_etcd, root)) == before  # nothing written


@pytest.fixture
async def worker_store(auth_etcd: SecureEtcd) -> AsyncIterator[Store]:
    credentials = EtcdCredentials(user="worker-a", password="worker-a-pw")
    async with Store([auth_etcd.endpoint], credentials=credentials) as store:
        yield store


async def test_a_worker_role_cannot_write_another_queues_keys(worker_store: Store) -> None:
    keys = Keyspace(namespace="auth")
    await worker_store.put(keys.worker("a", "w1"), b"{}")  # its own queue: allowed
    for key in (keys.worker("b", "w1"), keys.queue_config("b"), keys.pending("b", 1, "x"),
                keys.worker("a1", "w1"), Keyspace(namespace="other").worker("a", "w1")):
        with pytest.raises(StoreError, match="etcd denied permission to worker-a"):
            await worker_store.put(key, b"{}")
    with pytest.raises(StoreError, match="denied permission"):
        await worker_store.range(Get(keys.queue("b"), prefix=True))


async def test_an_expired_token_is_replaced(worker_store: Store) -> None:
    keys = Keyspace(namespace="auth")
    await worker_store.put(keys.worker("a", "w2"), b"1")
    first = worker_store._auth.token if worker_store._auth else None
    await asyncio.sleep(3.5)  # etcd started with --auth-token-ttl 2: the token is gone
    await worker_store.put(keys.worker("a", "w2"), b"2")  # refreshed, then written
    assert worker_store._auth is not None and worker_store._auth.token not in (None, first)
    assert (await worker_store.get(keys.worker("a", "w2"))).value == b"2"  # type: ignore[union-attr]


async def test_a_watch_opened_with_an_expired_token_still_sees_events(
        worker_store: Store) -> None:
    keys = Keyspace(namespace="auth")
    revision = await worker_store.put(keys.worker("a", "w3"), b"1")
    await asyncio.sleep(3.5)  # --auth-token-ttl 2: the store's token is gone in etcd
    watch = Watch(worker_store, keys.workers("a"), prefix=True, start_revision=revision)
    async with asyncio.timeout(20):
        async for batch in watch:
            assert [e.kv.key for e in batch] == [keys.worker("a", "w3")]
            break
    watch.close()


async def test_a_lease_outlives_its_token(worker_store: Store) -> None:
    keeper = LeaseKeeper(worker_store, 2, name="probe")
    await keeper.start()
    try:
        await asyncio.sleep(5)  # over two TTLs of the lease and of the token (2 s each)
        assert not keeper.lost.is_set()
        assert await worker_store.time_to_live(keeper.id) > 0
    finally:
        await keeper.stop()


async def test_several_named_endpoints_are_resolved_at_start_and_verified_by_name(
        tls: Tls) -> None:
    credentials = EtcdCredentials(cacert=str(tls.pki.ca.cert), cert=str(tls.client.cert),
                                  key=str(tls.client.key))
    named = [tls.etcd.endpoint, f"localhost:{tls.etcd.client_port}"]
    store = Store(named, credentials=credentials, connect_timeout=5)
    assert store._target is None  # nothing resolved in the constructor
    async with store:
        assert await store.revision() > 0


@pytest.mark.parametrize("command", [["worker", "--queue=a"], ["scheduler", "--queue=a"],
                                     ["dashboard", "--port=0"]])
def test_long_running_components_exit_on_a_wrong_password(auth_etcd: SecureEtcd,
                                                         command: list[str]) -> None:
    env = env_of(auth_etcd.endpoint, "auth", user="worker-a", password="wrong")
    result = run_cli(command, env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "kubetask: error: etcd refused user 'worker-a': wrong user name or password"]
