"""Task ids shortened to a unique prefix, as git takes commits: the SDK, the CLI, the API."""

from __future__ import annotations

import asyncio
import json

import pytest

from kubetask.client import AsyncClient, Client
from kubetask.errors import AmbiguousTaskId, TaskNotFound, ValidationError
from kubetask.etcd_process import EtcdProcess
from kubetask.model import TaskState
from kubetask.queue import Producer
from kubetask.store import Keyspace, Store
from tests.conftest import run_cli
from tests.factories import make_task
from tests.integration.test_cli import revision

pytestmark = pytest.mark.etcd

# Ids chosen so that prefixes of them are unique, shared, or match nothing.
ONE = "abcdef0100000000000000a1"
TWO = "abcdef0100000000000000b2"
LONE = "abcdef0200000000000000c3"
MANY = [f"fedcba98765432100000{i:04x}" for i in range(8)]


async def seed(store: Store, keys: Keyspace, ids: list[str]) -> None:
    """Store tasks of the given ids (the SDK makes its own)."""
    await Producer(store, keys).submit([make_task(id=i) for i in ids])


def seed_namespace(etcd: EtcdProcess, namespace: str, ids: list[str]) -> None:
    async def run() -> None:
        store = Store([etcd.endpoint])
        await store.start()
        try:
            await seed(store, Keyspace(namespace=namespace), ids)
        finally:
            await store.stop()
    asyncio.run(run())


async def test_a_unique_prefix_resolves_to_the_full_id(client: AsyncClient, store: Store,
                                                       keys: Keyspace) -> None:
    await seed(store, keys, [ONE, TWO, LONE])
    assert await client.resolve_id("abcdef02") == LONE
    assert await client.resolve_id("ABCDEF0100000000000000B") == TWO
    assert await client.resolve_id(ONE) == ONE


async def test_a_full_id_is_returned_unread_and_its_absence_shows_on_use(
        client: AsyncClient) -> None:
    absent = "0123456789abcdef01234567"
    assert await client.resolve_id(absent) == absent
    with pytest.raises(TaskNotFound):
        await client.get(absent)


async def test_an_ambiguous_prefix_names_candidates_and_asks_for_more(
        client: AsyncClient, store: Store, keys: Keyspace) -> None:
    await seed(store, keys, [ONE, TWO, LONE])
    with pytest.raises(AmbiguousTaskId) as caught:
        await client.resolve_id("abcdef01")
    assert caught.value.candidates == [ONE, TWO]
    message = str(caught.value)
    assert f"matches 2 tasks ({ONE}, {TWO})" in message
    assert "give more characters" in message
    assert isinstance(caught.value, ValidationError)


async def test_an_ambiguous_prefix_of_many_tasks_lists_a_few(client: AsyncClient, store: Store,
                                                             keys: Keyspace) -> None:
    await seed(store, keys, MANY)
    with pytest.raises(AmbiguousTaskId) as caught:
        await client.resolve_id("fedcba98")
    assert caught.value.candidates == MANY[:5]
    assert "matches 8 tasks" in str(caught.value) and "and 3 more" in str(caught.value)


async def test_a_prefix_matching_nothing_says_so(client: AsyncClient, store: Store,
                                                 keys: Keyspace) -> None:
    await seed(store, keys, [ONE])
    with pytest.raises(TaskNotFound, match="no task id starts with 'abcdef03' in namespace"):
        await client.resolve_id("abcdef03")


@pytest.mark.parametrize("value,fragment", [("abc", "too short"), ("xyz123", "not hexadecimal"),
                                            ("abc/def", "'/'")])
async def test_a_too_short_or_malformed_prefix_is_refused_before_any_read(
        client: AsyncClient, value: str, fragment: str) -> None:
    await client.close()  # a read would fail with StoreError, not this ValidationError
    with pytest.raises(ValidationError, match=fragment):
        await client.resolve_id(value)


def test_the_blocking_client_resolves_too(etcd: EtcdProcess, namespace: str) -> None:
    seed_namespace(etcd, namespace, [ONE, LONE])
    with Client(etcd.endpoint, namespace=namespace) as c:
        assert c.resolve_id("abcdef01") == ONE


# --- the CLI ----------------------------------------------------------------------------
def test_every_task_command_takes_a_unique_prefix(cli_env: dict[str, str],
                                                  etcd: EtcdProcess) -> None:
    seed_namespace(etcd, cli_env["KUBETASK_NAMESPACE"], [ONE, TWO, LONE])
    got = run_cli(["task", "get", "abcdef02", "--json"], cli_env)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["id"] == LONE
    assert run_cli(["task", "get", "abcdef02"], cli_env).stdout.split()[:2] == ["ID:", LONE]
    cancelled = run_cli(["task", "cancel", "abcdef02"], cli_env)
    assert cancelled.returncode == 0 and f"{LONE} cancelled" in cancelled.stdout
    waited = run_cli(["task", "wait", "abcdef02", "--timeout", "10"], cli_env)
    assert waited.returncode == 1 and f"{LONE} cancelled" in waited.stdout
    retried = run_cli(["task", "retry", "abcdef02"], cli_env)
    assert retried.returncode == 1 and f"task {LONE} is cancelled" in retried.stderr


def test_an_ambiguous_prefix_is_a_clear_error_and_changes_nothing(
        cli_env: dict[str, str], etcd: EtcdProcess) -> None:
    seed_namespace(etcd, cli_env["KUBETASK_NAMESPACE"], [ONE, TWO, LONE])
    before = revision(etcd)
    # The unique prefix first: nothing is cancelled unless every id resolves.
    result = run_cli(["task", "cancel", "abcdef02", "abcdef01"], cli_env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"kubetask: error: task id prefix 'abcdef01' is ambiguous: it matches 2 tasks "
        f"({ONE}, {TWO}); give more characters of the id")
    assert result.stdout == "" and revision(etcd) == before
    got = json.loads(run_cli(["task", "get", LONE, "--json"], cli_env).stdout)
    assert got["state"] == TaskState.PENDING.value


@pytest.mark.parametrize("args,code,fragment", [
    (["get", "abcd"], 2, "task id prefix 'abcd' is too short: give at least 6"),
    (["cancel", "abcde"], 2, "too short"),
    (["retry", "zzzzzzzz"], 2, "not hexadecimal"),
    (["wait", "abcdef03"], 1, "no task id starts with 'abcdef03'"),
])
def test_a_bad_or_unknown_prefix_is_refused_and_changes_nothing(
        cli_env: dict[str, str], etcd: EtcdProcess, args: list[str], code: int,
        fragment: str) -> None:
    seed_namespace(etcd, cli_env["KUBETASK_NAMESPACE"], [ONE, TWO])
    before = revision(etcd)
    result = run_cli(["task", *args], cli_env)
    assert result.returncode == code and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert revision(etcd) == before
