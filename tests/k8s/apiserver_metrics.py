"""The kube-apiserver's own count of the requests it served (`apiserver_request_total` on its
/metrics), by verb, resource and subresource: what a test reads before and after to know
which API calls something cost."""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from tests.k8s.api import ApiClient

METRIC = "apiserver_request_total"
STREAMING = frozenset({"LIST", "WATCH", "WATCHLIST"})  # per watcher, not per object
_SAMPLE = re.compile(rf"^{METRIC}{{(?P<labels>[^}}]*)}} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class CallKey(NamedTuple):
    verb: str
    resource: str  # "tasks.kubetask.io", "events", "deployments.apps"
    subresource: str  # "" or "status"


def request_totals(api: ApiClient) -> Counter[CallKey]:
    """Every request the API server served so far, by (verb, resource, subresource)."""
    status, text = api.text("/metrics")
    if status != 200:
        raise AssertionError(f"GET /metrics answered {status}: {text[:300]}")
    return parse(text)


def parse(text: str) -> Counter[CallKey]:
    totals: Counter[CallKey] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        group = labels.get("group", "")
        resource = labels.get("resource", "")
        key = CallKey(labels.get("verb", ""), f"{resource}.{group}" if group else resource,
                      labels.get("subresource", ""))
        totals[key] += int(float(match["value"]))
    return totals


def per_object_calls(delta: Counter[CallKey], resource: str) -> dict[CallKey, int]:
    """The calls on `resource` (its plural, any group) other than lists and watches."""
    return {key: n for key, n in delta.items()
            if n and key.verb not in STREAMING and key.resource.split(".")[0] == resource}


def table(delta: Counter[CallKey], per: int, unit: str = "Task") -> str:
    """One line per (verb, resource, subresource) that was called: count, and per `per`."""
    rows = sorted((key for key, n in delta.items() if n),
                  key=lambda k: (k.verb in STREAMING, k.resource, k.subresource, k.verb))
    return "\n".join(f"  {k.verb:<7} {k.resource + ('/' + k.subresource if k.subresource else ''):<36}"
                     f" {delta[k]:>6}  {delta[k] / per:>6.2f}/{unit}" for k in rows)
