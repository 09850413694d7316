"""Logging for the CLI: text or JSON lines, the seed's four levels."""

from __future__ import annotations

import logging
import sys
import time

import orjson

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR}
# Libraries whose INFO lines are routine chatter (kopf: a line per handler run and per timer
# tick, every 5 s per TaskQueue): shown only at --log-level debug; their warnings always.
CHATTY = ("kopf",)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(level: str, fmt: str = "text", *, name: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        prefix = f"{name} " if name else ""
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)-7s {prefix}%(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    logging.getLogger("grpc").setLevel(logging.WARNING)
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.NOTSET if level == "debug" else max(LEVELS[level], logging.WARNING))
