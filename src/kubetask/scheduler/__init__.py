"""Dispatch: leader election per queue, strategies, retry promotion, recovery."""

from kubetask.scheduler.scheduler import Scheduler
from kubetask.scheduler.settings import SchedulerSettings
from kubetask.scheduler.term import TermMetrics

__all__ = ["Scheduler", "SchedulerSettings", "TermMetrics"]
