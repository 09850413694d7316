"""Soak fixtures: the fault tests' private etcd member and system of real processes
(tests/faults), reused; every test here is marked `soak`."""

from __future__ import annotations

import pytest

from tests.faults.conftest import etcd_member, faults

__all__ = ["etcd_member", "faults"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/soak/" in str(item.fspath):
            item.add_marker(pytest.mark.soak)
