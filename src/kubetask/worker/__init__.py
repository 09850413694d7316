"""The worker: lease, heartbeat and load, assignment watch, executors, group commit."""

from kubetask.worker.executors import Executor, ExecutorRegistry, TaskContext, executor
from kubetask.worker.hooks import WorkerMetrics
from kubetask.worker.runtime import Worker
from kubetask.worker.settings import WorkerSettings

__all__ = ["Executor", "ExecutorRegistry", "TaskContext", "Worker", "WorkerMetrics",
           "WorkerSettings", "executor"]
