"""Hooks for the figures a worker produces: no-ops here, Prometheus plugs in (web layer)."""

from __future__ import annotations

from kubetask.model import Task


class WorkerMetrics:
    """Hooks for figures a worker produces (no-ops; the web layer plugs in Prometheus)."""

    def started(self, task: Task, wait_seconds: float) -> None:
        """An attempt started `wait_seconds` after the task was submitted."""

    def finished(self, task: Task, run_seconds: float) -> None:
        """An attempt ended in `task.state` after `run_seconds`."""
