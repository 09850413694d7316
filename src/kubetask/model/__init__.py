"""Pure data of kubetask: tasks, states and their transitions, priorities, workers. No I/O."""

from kubetask.model.attempt import (
    ATTEMPT_TRANSITIONS,
    AttemptState,
    AttemptStateError,
    Outcome,
    OutcomeKind,
    check_attempt_transition,
)
from kubetask.model.backoff import Backoff, RetryPolicy
from kubetask.model.credentials import EtcdCredentials
from kubetask.model.ids import (
    MIN_TASK_ID_PREFIX,
    TASK_ID_LENGTH,
    id_floor,
    new_task_id,
    parse_task_id,
)
from kubetask.model.queue_config import QueueConfig
from kubetask.model.retry import RetryDecision, decide_retry, resolve_policy
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
    "ATTEMPT_TRANSITIONS",
    "HISTORY_BUCKETS",
    "HISTORY_BUCKET_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_BYTES",
    "MIN_TASK_ID_PREFIX",
    "TASK_ID_LENGTH",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Attempt",
    "AttemptState",
    "AttemptStateError",
    "Backoff",
    "EtcdCredentials",
    "Outcome",
    "OutcomeKind",
    "Priority",
    "QueueConfig",
    "RetryDecision",
    "RetryPolicy",
    "Tally",
    "Task",
    "TaskState",
    "WorkerInfo",
    "WorkerState",
    "check_attempt_transition",
    "check_transition",
    "decide_retry",
    "id_floor",
    "new_task_id",
    "parse_task_id",
    "resolve_policy",
    "validate_name",
    "validate_payload",
]
