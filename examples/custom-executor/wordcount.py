"""An example executor: counts the words and lines of payload.text (task type `wordcount`)."""

from __future__ import annotations

from typing import Any

import kubetask


@kubetask.executor("wordcount")
def wordcount(task: kubetask.Task) -> dict[str, Any]:
    payload = task.payload if isinstance(task.payload, dict) else {}
    text = payload.get("text")
    if not isinstance(text, str):
        raise ValueError(f"payload.text must be a string, got {text!r}")
    return {"words": len(text.split()), "lines": len(text.splitlines())}
