"""Priority queue semantics on the store: submit, dispatch, attempts, reads."""

from kubetask.queue.attempts import AttemptLog, Claim, WorkerTally, Write
from kubetask.queue.config import QueueConfigs
from kubetask.queue.dispatch import MAX_LOST, Dispatcher, Pending, Placement
from kubetask.queue.drains import Drains
from kubetask.queue.producer import Producer
from kubetask.queue.reader import QueueCounts, Reader
from kubetask.queue.snapshot import QueueSnapshot, SnapshotReader

__all__ = [
    "MAX_LOST",
    "AttemptLog",
    "Claim",
    "Dispatcher",
    "Drains",
    "Pending",
    "Placement",
    "Producer",
    "QueueConfigs",
    "QueueCounts",
    "QueueSnapshot",
    "Reader",
    "SnapshotReader",
    "WorkerTally",
    "Write",
]
