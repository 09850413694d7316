"""A least-privilege etcd role layout over the key layout of store/keys.py, and its setup.

Roles (etcd key-prefix permissions, one set per namespace; docs/SECURITY.md, "etcd"):

    kubetask-<ns>-scheduler     readwrite <root>            (also the operator's)
    kubetask-<ns>-worker-<q>    readwrite <root>q/<q>/ (its assignments are there),
                                <root>tasks/; read <root>cancel/
    kubetask-<ns>-client        readwrite <root>tasks/, <root>q/, <root>cancel/
    kubetask-<ns>-reader        read <root>                 (the dashboard, read-only)

Every role may also read the single key "\x00" (Store.revision()'s probe, never written).
What prefixes cannot express with this layout: task records live under one tasks/ prefix
shared by every queue, so a worker's role must reach other queues' records there. Keeping a
worker inside its queue needs the records moved under q/<queue>/ (a layout change, not
made; the assignments moved there already).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc.aio
from etcd3aio import _protobuf as pb

from kubetask.store.client import Store
from kubetask.store.keys import Keyspace, prefix_end

READ, WRITE, READWRITE = "read", "write", "readwrite"
_PERM = {READ: pb.Permission.READ, WRITE: pb.Permission.WRITE,
         READWRITE: pb.Permission.READWRITE}


@dataclass(frozen=True)
class Grant:
    """`perm` on every key starting with `prefix` (`exact`: on that one key only)."""

    perm: str
    prefix: str
    exact: bool = False


# Store.revision() reads the count of key "\x00" (never written) for the current revision.
REVISION_PROBE = Grant(READ, "\x00", exact=True)


def role_name(keys: Keyspace, part: str) -> str:
    return f"kubetask-{keys.namespace}-{part}"


def layout(keys: Keyspace, queues: list[str]) -> dict[str, list[Grant]]:
    """Role name -> its grants, for a namespace and its queues."""
    root = keys.root
    roles = {
        role_name(keys, "scheduler"): [Grant(READWRITE, root)],
        role_name(keys, "client"): [Grant(READWRITE, keys.tasks()),
                                    Grant(READWRITE, keys.queues()),
                                    Grant(READWRITE, keys.cancels())],
        role_name(keys, "reader"): [Grant(READ, root)],
    }
    for queue in queues:
        roles[role_name(keys, f"worker-{queue}")] = [
            Grant(READWRITE, keys.queue(queue)), Grant(READWRITE, keys.tasks()),
            Grant(READ, keys.cancels())]
    return roles


async def _ignore_exists(call: Any) -> None:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if "already exists" not in (exc.details() or ""):
            raise


async def create_roles(store: Store, roles: dict[str, list[Grant]]) -> None:
    """Create (or complete) each role with its grants; existing ones are kept."""
    stub: Any = pb.AuthStub(store.channel)
    metadata = await store.call_metadata()
    for name, grants in roles.items():
        await _ignore_exists(stub.RoleAdd(pb.AuthRoleAddRequest(name=name), metadata=metadata))
        for grant in [*grants, REVISION_PROBE]:
            perm = pb.Permission(permType=_PERM[grant.perm], key=grant.prefix.encode(),
                                 range_end=b"" if grant.exact else
                                 prefix_end(grant.prefix).encode())
            await stub.RoleGrantPermission(pb.AuthRoleGrantPermissionRequest(name=name,
                                                                             perm=perm),
                                           metadata=metadata)


async def create_user(store: Store, user: str, password: str | None, roles: list[str]) -> None:
    """A user with `roles`; no password: a user for client certificates (CN = user)."""
    stub: Any = pb.AuthStub(store.channel)
    metadata = await store.call_metadata()
    request = pb.AuthUserAddRequest(name=user, password=password or "",
                                    options=pb.UserAddOptions(no_password=password is None))
    await _ignore_exists(stub.UserAdd(request, metadata=metadata))
    for role in roles:
        await stub.UserGrantRole(pb.AuthUserGrantRoleRequest(user=user, role=role),
                                 metadata=metadata)


async def enable_auth(store: Store, root_password: str | None) -> None:
    """Create root (with the root role) and turn etcd's auth on; a no-op if it is on."""
    stub: Any = pb.AuthStub(store.channel)
    status = await stub.AuthStatus(pb.AuthStatusRequest(), metadata=await store.call_metadata())
    if status.enabled:
        return
    await create_user(store, "root", root_password, ["root"])
    await stub.AuthEnable(pb.AuthEnableRequest())
