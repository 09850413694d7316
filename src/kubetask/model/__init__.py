"""Pure data of kubetask: tasks, states and their transitions, priorities, workers. No I/O."""

from kubetask.model.backoff import Backoff, RetryPolicy
from kubetask.model.ids import (
    MIN_TASK_ID_PREFIX,
    TASK_ID_LENGTH,
    id_floor,
    new_task_id,
    parse_task_id,
)
from kubetask.model.queue_config import QueueConfig
from kubetask.model.task import (
    TERMINAL_STATES,
    TRANSITIONS,
    Attempt,
    Priority,
    Task,
    TaskState,
    check_transition,
)
from kubetask.model.validation import (
    MAX_PAYLOAD_BYTES,
    MAX_RESULT_BYTES,
    validate_name,
    validate_payload,
)
from kubetask.model.worker import (
    HISTORY_BUCKET_SECONDS,
    HISTORY_BUCKETS,
    Tally,
    WorkerInfo,
    WorkerState,
)

__all__ = [
    "HISTORY_BUCKETS",
    "HISTORY_BUCKET_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_BYTES",
    "MIN_TASK_ID_PREFIX",
    "TASK_ID_LENGTH",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Attempt",
    "Backoff",
    "Priority",
    "QueueConfig",
    "RetryPolicy",
    "Tally",
    "Task",
    "TaskState",
    "WorkerInfo",
    "WorkerState",
    "check_transition",
    "id_floor",
    "new_task_id",
    "parse_task_id",
    "validate_name",
    "validate_payload",
]
