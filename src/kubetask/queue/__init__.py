"""Priority queue semantics on the store: submit, dispatch, attempts, reads."""

from kubetask.queue.attempts import AttemptLog, Claim, Write
from kubetask.queue.config import QueueConfigs
from kubetask.queue.dispatch import MAX_LOST, Dispatcher, Pending, Placement
from kubetask.queue.producer import Producer
from kubetask.queue.reader import QueueCounts, Reader

__all__ = [
    "MAX_LOST",
    "AttemptLog",
    "Claim",
    "Dispatcher",
    "Pending",
    "Placement",
    "Producer",
    "QueueConfigs",
    "QueueCounts",
    "Reader",
    "Write",
]
