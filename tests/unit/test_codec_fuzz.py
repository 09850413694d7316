"""Property tests (Hypothesis) of the stored-record decoder: whatever bytes a task key holds,
`codec.load` returns a Task or raises CorruptRecord (a KubetaskError), and every task it
writes reads back equal. 10,000 generated inputs each; pure functions only."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetask.errors import CorruptRecord, KubetaskError
from kubetask.model import Priority, Task, TaskState
from kubetask.model.task import Attempt
from kubetask.queue import codec

FUZZ = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FIELDS = [*Task.__dataclass_fields__, "history"]
# JSON as orjson writes it: integers within 64 bits (validate_payload refuses larger ones).
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
shallow = scalar | st.lists(scalar, max_size=2) | st.dictionaries(
    st.sampled_from(FIELDS), scalar, max_size=2)
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6),
                                            inner, max_size=3), max_leaves=4)
# Records that look like tasks: the right field names with values of any shape.
task_like = st.dictionaries(st.sampled_from(FIELDS), shallow, max_size=10)
names = st.text(alphabet="abcxyz019-._", min_size=1, max_size=16)


def decode(data: bytes) -> Task | None:
    try:
        return codec.load(data)
    except CorruptRecord:
        return None


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_corrupt(data: bytes) -> None:
    decode(data)


@FUZZ
@given(st.one_of(task_like, json_value))
def test_any_json_decodes_or_is_corrupt(value: Any) -> None:
    task = decode(orjson.dumps(value))
    if task is not None:
        assert all(isinstance(v, str) for v in (task.id, task.queue, task.type, task.name))


@FUZZ
@given(st.builds(
    Task, id=names, queue=names, type=names, name=st.just("task"),
    payload=shallow,
    priority=st.sampled_from(Priority), max_retries=st.none() | st.integers(0, 100),
    state=st.sampled_from(TaskState), attempts=st.integers(0, 100),
    created_at=st.floats(0, 2e9), history=st.lists(st.builds(
        Attempt, number=st.integers(1, 9), worker=names, token=st.integers(0, 2**40),
        outcome=st.none() | st.sampled_from(["succeeded", "failed", "lost"])),
        max_size=2).map(tuple)))
def test_every_stored_task_reads_back_equal(task: Task) -> None:
    assert codec.load(codec.dump(task)) == task


def test_a_corrupt_record_is_a_kubetask_error() -> None:
    for data in (b"", b"\x80", b"[]", b"{}", b'{"id": 1, "queue": "q", "type": "t"}',
                 b'{"id": "a", "queue": "q", "type": "t", "priority": "x"}'):
        try:
            codec.load(data)
        except KubetaskError:
            continue
        raise AssertionError(f"{data!r} decoded")
