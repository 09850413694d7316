#!/usr/bin/env python3
"""Create kubetask's least-privilege etcd roles (docs/SECURITY.md, "etcd") and, optionally,
users with them; with --enable-auth, create root and turn etcd's auth on first.

    KUBETASK_ETCD_USER=root KUBETASK_ETCD_PASSWORD=... hack/etcd-roles.py \\
        --endpoints etcd:2379 --namespace default --queue emails --queue reports \\
        --etcd-cacert ca.crt --etcd-cert root.crt --etcd-key root.key \\
        --user kubetask-worker-emails=worker-emails   # USER=ROLE-SUFFIX; no password:
                                                       # the user logs in by certificate (CN)
Passwords of new users come from KUBETASK_NEW_USER_PASSWORD (else: certificate users).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from kubetask.model import EtcdCredentials
from kubetask.store import Keyspace, Store
from kubetask.store.roles import create_roles, create_user, enable_auth, layout, role_name


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoints", default="localhost:2379")
    p.add_argument("--namespace", default="default")
    p.add_argument("--queue", action="append", default=[], help="a queue (repeatable)")
    p.add_argument("--user", action="append", default=[], metavar="USER=ROLE",
                   help="a user and its role's suffix: scheduler, client, reader, worker-Q")
    p.add_argument("--enable-auth", action="store_true",
                   help="create root (password: KUBETASK_ROOT_PASSWORD) and enable auth")
    for flag in ("--etcd-cacert", "--etcd-cert", "--etcd-key"):
        p.add_argument(flag)
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    env = EtcdCredentials.from_env(os.environ)
    credentials = EtcdCredentials(cacert=args.etcd_cacert, cert=args.etcd_cert,
                                  key=args.etcd_key, user=env.user, password=env.password)
    keys = Keyspace(namespace=args.namespace)
    async with Store(args.endpoints.split(","), credentials=credentials) as store:
        roles = layout(keys, args.queue)
        await create_roles(store, roles)
        for item in args.user:
            user, _, suffix = item.partition("=")
            await create_user(store, user, os.environ.get("KUBETASK_NEW_USER_PASSWORD"),
                              [role_name(keys, suffix)])
        if args.enable_auth:
            await enable_auth(store, os.environ.get("KUBETASK_ROOT_PASSWORD"))
        for name, grants in roles.items():
            print(name, " ".join(f"{g.perm}:{g.prefix}" for g in grants))


if __name__ == "__main__":
    asyncio.run(main(parse()))
