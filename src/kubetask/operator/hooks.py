"""What the operator counts: the OperatorHooks protocol, and NoHooks that count nothing
(kubetask.metrics.operator counts them in Prometheus for `kubetask operator --metrics-port`;
the metrics layer sits below the operator, so it meets this protocol by shape)."""

from __future__ import annotations

from typing import Protocol

from kubetask.metrics.scaling import ScalingMetrics
from kubetask.scheduler import TermMetrics


class OperatorHooks(Protocol):
    scaling: ScalingMetrics | None  # the autoscaler's decisions (None: not counted)

    def submitted(self, namespace: str) -> None:
        """A Task resource was submitted to etcd (again after a restart: idempotent)."""

    def refused(self, namespace: str) -> None:
        """A Task resource was refused (its spec is not a valid task)."""

    def status_patched(self, namespace: str) -> None:
        """A Task's status was written to the API server."""

    def feed_restarted(self, namespace: str) -> None:
        """The namespace's change feed failed and was opened again."""

    def followed(self, namespace: str, count: int) -> None:
        """The operator now follows `count` Task resources in `namespace`."""

    def scheduler(self, namespace: str, queue: str) -> TermMetrics | None:
        """The hooks of the scheduler of a TaskQueue (None: none)."""


class NoHooks:
    """Counts nothing (the operator without --metrics-port)."""

    scaling: ScalingMetrics | None = None

    def submitted(self, namespace: str) -> None:
        pass

    def refused(self, namespace: str) -> None:
        pass

    def status_patched(self, namespace: str) -> None:
        pass

    def feed_restarted(self, namespace: str) -> None:
        pass

    def followed(self, namespace: str, count: int) -> None:
        pass

    def scheduler(self, namespace: str, queue: str) -> TermMetrics | None:
        return None
