"""Executors: the registry, the base classes and the built-in task types."""

from kubetask.worker.executors.base import Executor, FunctionExecutor, TaskContext, executor
from kubetask.worker.executors.builtins import BUILTINS
from kubetask.worker.executors.registry import ExecutorRegistry

__all__ = ["BUILTINS", "Executor", "ExecutorRegistry", "FunctionExecutor", "TaskContext",
           "executor"]
