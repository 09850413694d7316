"""kubetask: a distributed task scheduler whose queue and coordination live in etcd."""

import os

# gRPC's C core prints its own errors (each refused TLS handshake: a dozen lines) to stderr,
# read once when grpc is imported; kubetask raises one error that says what failed.
# GRPC_VERBOSITY=ERROR in the environment shows them again.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from kubetask.client import AsyncClient, Client, TaskSpec
from kubetask.errors import KubetaskError, ValidationError
from kubetask.model import EtcdCredentials, Priority, Task, TaskState
from kubetask.worker.executors import Executor, TaskContext, executor

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "EtcdCredentials", "Executor", "KubetaskError", "Priority", "Task",
           "TaskContext", "TaskSpec", "TaskState", "ValidationError", "__version__", "executor"]
