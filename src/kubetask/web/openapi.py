"""The OpenAPI 3.1 document of the HTTP API (written by hand; the fuzz test keeps it honest)."""

from __future__ import annotations

from typing import Any

from kubetask.model import MAX_PAYLOAD_BYTES, MIN_TASK_ID_PREFIX, TaskState
from kubetask.model.validation import (
    MAX_BACKOFF_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_NAME_LENGTH,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    NAME_RE,
)
from kubetask.web.parsing import MAX_LIMIT

Schema = dict[str, Any]

NAME_PATTERN = NAME_RE.pattern


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _name(what: str) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH,
            "pattern": NAME_PATTERN,
            "description": f"{what}: letters, digits and . _ : @ + = - (no `/`, no `..`)."}


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What was wrong."}},
    },
    "Priority": {
        "description": "0-3 or a level name: 0 low, 1 normal, 2 high, 3 urgent.",
        "oneOf": [{"type": "integer", "minimum": 0, "maximum": 3},
                  {"type": "string", "enum": ["low", "normal", "high", "urgent"]}],
    },
    "TaskState": {"type": "string", "enum": [s.value for s in TaskState]},
    "TaskSpec": {
        "type": "object", "required": ["type"], "additionalProperties": False,
        "properties": {
            "type": _name("The task type (which executor runs it)"),
            "payload": {"description": f"Any JSON, at most {MAX_PAYLOAD_BYTES} bytes encoded."},
            "queue": {**_name("Queue"), "default": "default"},
            "name": _nullable(_name("A label for people (default: the type)")),
            "priority": {**_ref("Priority"), "default": 1},
            "max_retries": _nullable({"type": "integer", "minimum": 0,
                                      "maximum": MAX_RETRIES,
                                      "description": "Retries after a failed attempt; null "
                                                     "or absent: the queue's default"}),
            "retry_base": _nullable({"type": "number", "minimum": 0,
                                     "maximum": MAX_BACKOFF_SECONDS,
                                     "description": "Seconds of backoff before the first "
                                                    "retry; null or absent: the queue's"}),
            "retry_cap": _nullable({"type": "number", "minimum": 0,
                                    "maximum": MAX_BACKOFF_SECONDS,
                                    "description": "Longest backoff in seconds (not shorter "
                                                   "than retry_base); null or absent: the "
                                                   "queue's"}),
            "timeout": _nullable({"type": "number", "exclusiveMinimum": 0,
                                  "maximum": MAX_TIMEOUT_SECONDS,
                                  "description": "Seconds an attempt may run."}),
            "key": _nullable(_name("Idempotency key: a second submit with the same key "
                                   "returns the first task")),
            "delay": _nullable({"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS,
                                "description": "Seconds from now before the task may start."}),
        },
    },
    "Attempt": {
        "type": "object", "required": ["number", "worker"],
        "properties": {
            "number": {"type": "integer", "minimum": 1,
                       "description": "The attempt's place in the task's history (1, 2, ...); "
                                      "it never repeats, across a retry of a dead task too."},
            "worker": {"type": "string"},
            "token": {"type": "integer"},
            "started_at": _nullable(TIMESTAMP), "finished_at": _nullable(TIMESTAMP),
            "outcome": _nullable({"type": "string", "description": "succeeded, failed, lost, "
                                                                   "cancelled or handed-back"}),
            "error": _nullable({"type": "string"}),
        },
    },
    "Task": {
        "type": "object",
        "required": ["id", "name", "queue", "type", "priority", "priority_name", "state",
                     "attempts", "max_retries", "created_at", "history"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "queue": {"type": "string"},
            "type": {"type": "string"},
            "priority": {"type": "integer", "minimum": 0, "maximum": 3},
            "priority_name": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
            "state": _ref("TaskState"),
            "attempts": {"type": "integer", "minimum": 0,
                         "description": "Attempts counted toward max_retries (a retry of a "
                                        "dead task starts them again; hand-backs give one "
                                        "back): the history may hold more."},
            "max_retries": _nullable({"type": "integer", "minimum": 0,
                                      "description": "null: the queue's default"}),
            "worker": _nullable({"type": "string"}),
            "payload": {}, "result": {},
            "error": _nullable({"type": "string"}),
            "timeout_seconds": _nullable({"type": "number"}),
            "idempotency_key": _nullable({"type": "string"}),
            "created_at": TIMESTAMP, "started_at": _nullable(TIMESTAMP),
            "finished_at": _nullable(TIMESTAMP), "run_at": _nullable(TIMESTAMP),
            "history": {"type": "array", "items": _ref("Attempt")},
        },
    },
    "TaskList": {
        "type": "object", "required": ["tasks", "next"],
        "properties": {
            "tasks": {"type": "array", "items": _ref("Task")},
            "next": _nullable({"type": "string", "description": "Pass as `after` for the next "
                                                                "page; null: no more."}),
        },
    },
    "TaskBatch": {
        "type": "object", "required": ["tasks"], "additionalProperties": False,
        "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": 1000,
                                 "items": _ref("TaskSpec")}},
    },
    "TaskBatchResult": {
        "type": "object", "required": ["tasks"],
        "properties": {"tasks": {"type": "array", "items": _ref("Task")}},
    },
    "WorkerStats": {
        "type": "object",
        "required": ["id", "state", "running", "capacity", "cpu_percent", "memory_percent",
                     "succeeded", "failed_attempts", "counted_since"],
        "properties": {
            "id": {"type": "string"}, "state": {"type": "string", "enum": ["active", "draining"]},
            "running": {"type": "integer", "description": "Tasks assigned to it or running on "
                                                          "it (the queue's assignments, at "
                                                          "the snapshot's revision)."},
            "capacity": {"type": "integer"},
            "busy_slots": {"type": "integer", "description": "Of `running`, those in its "
                                                             "slots (at most `capacity`)."},
            "prefetched": {"type": "integer", "description": "Of `running`, those beyond its "
                                                             "slots: prefetched, waiting for "
                                                             "a slot."},
            "prefetch": {"type": "integer", "description": "Tasks it takes beyond its free "
                                                           "slots now (0 while paused or "
                                                           "draining), as of its last "
                                                           "heartbeat."},
            "weight": {"type": "integer"}, "cpu_percent": {"type": "number"},
            "memory_percent": {"type": "number"},
            "succeeded": {"type": "integer", "description": "Tasks it ended succeeded, since "
                                                            "counted_since."},
            "failed_attempts": {"type": "integer", "description": "Attempts it ended failed, "
                                                                  "since counted_since."},
            "counted_since": {"type": "number", "description": "Epoch seconds: when the "
                                                               "worker started counting (its "
                                                               "start)."},
            "finished_last_minute": {"type": "integer",
                                     "description": "Attempts it ended in the last minute, "
                                                    "as of its last heartbeat."},
            "last_heartbeat": {"type": "number", "description": "Epoch seconds."},
            "heartbeat_age_seconds": {"type": "number"}, "hostname": {"type": "string"},
            "pid": {"type": "integer"},
        },
    },
    "QueueStats": {
        "type": "object",
        "description": "One queue at one etcd revision: running equals the workers' running "
                       "plus orphaned; succeeded and failed_attempts equal the workers' sums "
                       "when every task was ended by a worker still registered since it "
                       "started and retention deleted none.",
        "required": ["queue", "revision", "total", "pending", "pending_by_priority", "running",
                     "orphaned", "succeeded", "retrying", "dead", "cancelled",
                     "failed_attempts", "workers", "worker_stats"],
        "properties": {
            "queue": {"type": "string"},
            "revision": {"type": "integer", "description": "The etcd revision read."},
            "total": {"type": "integer", "description": "Stored tasks, each in one state."},
            "pending": {"type": "integer"},
            "pending_by_priority": {
                "type": "object", "additionalProperties": {"type": "integer"},
                "description": "Keys: low, normal, high, urgent."},
            "running": {"type": "integer", "description": "Tasks assigned to a worker or "
                                                          "running."},
            "orphaned": {"type": "integer", "description": "Of running: tasks of workers "
                                                           "that left, handed back soon."},
            "succeeded": {"type": "integer"},
            "retrying": {"type": "integer"}, "dead": {"type": "integer"},
            "cancelled": {"type": "integer"},
            "failed_attempts": {"type": "integer",
                                "description": "Failed attempts (not tasks, not a state) of "
                                               "the stored tasks."},
            "workers": {"type": "integer", "description": "Number of workers."},
            "leader": _nullable({"type": "string"}), "capacity": {"type": "integer"},
            "throughput_per_minute": {"type": "integer"},
            "config": {"type": "object", "description": "The queue's retry defaults (set "
                                                        "fields of QueueConfig only)."},
            "worker_stats": {"type": "array", "items": _ref("WorkerStats")},
        },
    },
    "Throughput": {
        "type": "object",
        "required": ["start", "bucket_seconds", "submitted", "succeeded", "failed_attempts"],
        "description": "Counts per bucket, oldest first, over the last two minutes: tasks "
                       "submitted (still stored), tasks succeeded and attempts failed (from "
                       "the heartbeats of the workers registered now).",
        "properties": {
            "start": {"type": "number", "description": "Epoch seconds: the first bucket's "
                                                       "start."},
            "bucket_seconds": {"type": "integer"},
            "submitted": {"type": "array", "items": {"type": "integer"}},
            "succeeded": {"type": "array", "items": {"type": "integer"}},
            "failed_attempts": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "Stats": {
        "type": "object", "required": ["namespace", "time", "queues"],
        "properties": {"namespace": {"type": "string"}, "time": TIMESTAMP,
                       "queues": {"type": "array", "items": _ref("QueueStats")}},
    },
    "Queues": {
        "type": "object", "required": ["queues"],
        "properties": {"queues": {"type": "array", "items": {"type": "string"}}},
    },
    "QueueConfig": {
        "type": "object", "additionalProperties": False,
        "description": "A queue's defaults for tasks that set none; a field left out or null: "
                       "the workers' --max-retries / --retry-base / --retry-cap.",
        "properties": {
            "max_retries": _nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "retry_base_seconds": _nullable({"type": "number", "minimum": 0, "maximum": MAX_BACKOFF_SECONDS,
                                             "description": "Backoff before the first retry."}),
            "retry_cap_seconds": _nullable({"type": "number", "minimum": 0, "maximum": MAX_BACKOFF_SECONDS,
                                            "description": "Longest backoff (not below the "
                                                           "base)."}),
        },
    },
    "QueueConfigResult": {
        "type": "object", "required": ["queue"],
        "properties": {"queue": {"type": "string"}, "max_retries": {"type": "integer"},
                       "retry_base_seconds": {"type": "number"},
                       "retry_cap_seconds": {"type": "number"}},
    },
    "Info": {
        "type": "object", "required": ["version", "namespace", "writes"],
        "properties": {
            "version": {"type": "string"}, "namespace": {"type": "string"},
            "writes": {"type": "string", "enum": ["open", "token", "disabled"],
                       "description": "open: anyone may write; token: a bearer token is "
                                      "needed; disabled: read-only."},
            "stats_interval": {"type": "number"},
        },
    },
    "Health": {
        "type": "object", "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
                       "error": {"type": "string"}},
    },
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(_ref("Error"), description)


BAD_INPUT = _error("Bad input: the message says what to fix.")
UNAVAILABLE = _error("etcd could not be reached.")
WRITE_REFUSED = {
    "401": _error("A token is configured and the request lacks it (or it is wrong)."),
    "403": _error("The dashboard is read-only, or the request came from another origin."),
}
TASK_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "The task id (24 hex characters), or a prefix of it "
                          f"(at least {MIN_TASK_ID_PREFIX} characters) that no other task's id "
                          "starts with; an ambiguous prefix is a 400 that lists some of "
                          "the tasks it matches."}
WRITE_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _task_paths() -> dict[str, Schema]:
    return {
        "/api/v1/tasks": {
            "post": {
                "operationId": "submitTask", "summary": "Submit one task",
                "security": WRITE_SECURITY,
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("TaskSpec")}}},
                "responses": {"201": _json(_ref("Task"), "The stored task (with a used "
                                                         "idempotency key: the first task)."),
                              "400": BAD_INPUT, **WRITE_REFUSED,
                              "413": _error("The body is too large."), "503": UNAVAILABLE},
            },
            "get": {
                "operationId": "listTasks", "summary": "List tasks, newest first",
                "parameters": [
                    _query("queue", {"type": "string"}, "Only this queue."),
                    _query("state", _ref("TaskState"), "Only tasks in this state."),
                    _query("type", {"type": "string"}, "Only this task type."),
                    _query("priority", {"type": "string"},
                           "Only this priority (0-3 or low/normal/high/urgent)."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                     "default": 50}, "Page size."),
                    _query("after", {"type": "string"},
                           "The `next` of the previous page: tasks older than this id."),
                ],
                "responses": {"200": _json(_ref("TaskList"), "A page of tasks."),
                              "400": BAD_INPUT, "503": UNAVAILABLE},
            },
        },
        "/api/v1/tasks:batch": {
            "post": {
                "operationId": "submitTasks", "summary": "Submit many tasks (all or none)",
                "security": WRITE_SECURITY,
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("TaskBatch")}}},
                "responses": {"201": _json(_ref("TaskBatchResult"), "The stored tasks, in order."),
                              "400": BAD_INPUT, **WRITE_REFUSED,
                              "413": _error("The body is too large."), "503": UNAVAILABLE},
            },
        },
        "/api/v1/tasks/{id}": {
            "get": {
                "operationId": "getTask", "summary": "One task with its attempts",
                "parameters": [TASK_ID],
                "responses": {"200": _json(_ref("Task"), "The task."), "400": BAD_INPUT,
                              "404": _error("No such task."), "503": UNAVAILABLE},
            },
        },
        "/api/v1/tasks/{id}/cancel": {
            "post": {
                "operationId": "cancelTask", "summary": "Cancel a task",
                "security": WRITE_SECURITY, "parameters": [TASK_ID],
                "responses": {
                    "200": _json(_ref("Task"), "Cancelled (it was pending or retrying)."),
                    "202": _json(_ref("Task"), "Cancel requested: the running task's worker "
                                               "stops it."),
                    "400": BAD_INPUT, **WRITE_REFUSED, "404": _error("No such task."),
                    "409": _error("The task already finished."), "503": UNAVAILABLE},
            },
        },
        "/api/v1/tasks/{id}/retry": {
            "post": {
                "operationId": "retryTask", "summary": "Re-queue a dead task",
                "security": WRITE_SECURITY, "parameters": [TASK_ID],
                "responses": {
                    "200": _json(_ref("Task"), "Pending again, with a fresh retry budget."),
                    "400": BAD_INPUT, **WRITE_REFUSED, "404": _error("No such task."),
                    "409": _error("The task is not dead."), "503": UNAVAILABLE},
            },
        },
    }


def _other_paths() -> dict[str, Schema]:
    return {
        "/api/v1/stats": {"get": {
            "operationId": "getStats", "summary": "Per-queue counts and worker figures",
            "parameters": [_query("queue", {"type": "string"}, "Only this queue.")],
            "responses": {"200": _json(_ref("Stats"), "Exact counts, every queue read at "
                                                      "one etcd revision."),
                          "400": BAD_INPUT, "404": _error("No queue of that name: no "
                                                          "task, worker or settings ever "
                                                          "named it."),
                          "503": UNAVAILABLE}}},
        "/api/v1/throughput": {"get": {
            "operationId": "getThroughput",
            "summary": "Recent throughput (what the dashboard's chart starts from)",
            "responses": {"200": _json(_ref("Throughput"), "Counts per 5 s, last 2 minutes."),
                          "400": BAD_INPUT, "503": UNAVAILABLE}}},
        "/api/v1/queues": {"get": {
            "operationId": "listQueues", "summary": "Queue names",
            "responses": {"200": _json(_ref("Queues"), "Queues that ever had a task, a "
                                                        "worker or settings."),
                          "503": UNAVAILABLE}}},
        "/api/v1/queues/{queue}/config": {
            "parameters": [{"name": "queue", "in": "path", "required": True,
                            "schema": {"type": "string"}, "description": "Queue name."}],
            "get": {"operationId": "getQueueConfig", "summary": "A queue's defaults",
                    "responses": {"200": _json(_ref("QueueConfigResult"), "Set fields only."),
                                  "400": BAD_INPUT, "503": UNAVAILABLE}},
            "put": {"operationId": "putQueueConfig",
                    "summary": "Replace a queue's defaults (they apply from each task's next "
                               "failure on)",
                    "security": WRITE_SECURITY,
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("QueueConfig")}}},
                    "responses": {"200": _json(_ref("QueueConfigResult"), "Stored."),
                                  "400": BAD_INPUT, **WRITE_REFUSED,
                                  "413": _error("The body is too large."), "503": UNAVAILABLE}},
            "delete": {"operationId": "deleteQueueConfig",
                       "summary": "Forget a queue's defaults", "security": WRITE_SECURITY,
                       "responses": {"200": _json(_ref("QueueConfigResult"), "Reset."),
                                     "400": BAD_INPUT, **WRITE_REFUSED, "503": UNAVAILABLE}},
        },
        "/api/v1/info": {"get": {
            "operationId": "getInfo", "summary": "Version, namespace, whether writes are allowed",
            "responses": {"200": _json(_ref("Info"), "About this server.")}}},
        "/api/v1/openapi.json": {"get": {
            "operationId": "getOpenApi", "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")}}},
        "/api/v1/events": {"get": {
            "operationId": "streamEvents", "summary": "Live updates (server-sent events)",
            "description": "Events: `hello` (Info, once), `stats` (Stats, every ~1 s), "
                           "`tasks` ({tasks: [task summary]}, changes coalesced over 0.25 s), "
                           "`resync` (re-read everything), `problem` ({error}).",
            "responses": {"200": {"description": "An endless event stream.",
                                  "content": {"text/event-stream": {
                                      "schema": {"type": "string"}}}}}}},
        "/metrics": {"get": {
            "operationId": "getMetrics", "summary": "Prometheus metrics",
            "responses": {"200": {
                "description": "Prometheus text format 0.0.4, or OpenMetrics when asked "
                               "for (Accept).",
                "content": {"text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
        "/healthz": {"get": {
            "operationId": "getHealth", "summary": "Liveness and etcd reachability",
            "responses": {"200": _json(_ref("Health"), "etcd answers."),
                          "503": _json(_ref("Health"), "etcd does not answer.")}}},
    }


def openapi_document(version: str) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kubetask HTTP API", "version": version,
            "description": "Submit, inspect, cancel and retry tasks of a kubetask namespace. "
                           "Errors are JSON {\"error\": message}. Writes need the server's "
                           "--allow-writes, or its --token as a bearer token.",
        },
        "paths": {**_task_paths(), **_other_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
