"""kubetask: a distributed task scheduler whose queue and coordination live in etcd."""

from kubetask.client import AsyncClient, Client, TaskSpec
from kubetask.errors import KubetaskError, ValidationError
from kubetask.model import Priority, Task, TaskState
from kubetask.worker.executors import Executor, TaskContext, executor

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "Executor", "KubetaskError", "Priority", "Task",
           "TaskContext", "TaskSpec", "TaskState", "ValidationError", "__version__", "executor"]
