"""Running the operator: kopf's reactor with our registry, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

import kopf

from kubetask.operator.handlers import registry
from kubetask.operator.hooks import OperatorHooks
from kubetask.operator.kube import load_config
from kubetask.operator.runtime import Operator
from kubetask.operator.settings import OperatorSettings


def run_operator(settings: OperatorSettings, hooks: OperatorHooks | None = None) -> None:
    """Watch Tasks and TaskQueues (one namespace, or all) until stopped; `hooks` count
    what it does (its --metrics-port)."""
    load_config()
    operator = Operator(settings, hooks=hooks)
    liveness = (f"http://{settings.health_host}:{settings.health_port}/healthz"
                if settings.health_port is not None else None)
    kopf_settings = kopf.OperatorSettings()
    operator.configure(kopf_settings)
    asyncio.run(kopf.operator(
        registry=registry(operator), settings=kopf_settings, clusterwide=settings.namespace is None,
        namespaces=[settings.namespace] if settings.namespace else (),
        liveness_endpoint=liveness, standalone=True, stop_flag=operator.stopping))
    if operator.failure is not None:
        raise operator.failure  # the CLI prints it and exits 1
