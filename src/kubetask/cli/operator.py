"""`kubetask operator`: the Kubernetes operator (needs the `operator` extra: kopf, kubernetes)."""

from __future__ import annotations

import logging

import click

from kubetask import metrics
from kubetask.cli.logconfig import configure
from kubetask.cli.options import NameType, etcd_credentials, etcd_security_options, log_options
from kubetask.cli.processes import metrics_options, start_metrics

log = logging.getLogger(__name__)


def startup_line(etcd_endpoints: str, namespace: str | None, worker_image: str) -> str:
    """What the operator says when it starts (kopf's own start-up lines are debug only)."""
    where = f"namespace {namespace}" if namespace else "all namespaces"
    return (f"operator starting: Tasks and TaskQueues of {where}, engine etcd "
            f"{etcd_endpoints}, worker image {worker_image}")


@click.command()
@click.option("--etcd-endpoints", default="localhost:2379", show_default=True,
              envvar="KUBETASK_ETCD_ENDPOINTS",
              help="Comma-separated etcd endpoints (host:port) of the engine.")
@click.option("--namespace", default=None, envvar="KUBETASK_WATCH_NAMESPACE",
              type=NameType("namespace"),
              help="Watch this Kubernetes namespace only (default: all). Each Kubernetes "
              "namespace is the engine's namespace of the same name in etcd.")
@click.option("--worker-image", default="kubetask/worker:latest", show_default=True,
              envvar="KUBETASK_WORKER_IMAGE",
              help="Image of the worker Deployments (a TaskQueue's spec.worker.image wins).")
@etcd_security_options
@click.option("--etcd-tls-secret", default=None, envvar="KUBETASK_ETCD_TLS_SECRET",
              metavar="NAME", help="Secret (ca.crt, tls.crt, tls.key; optional username, "
              "password) mounted into the worker pods for etcd; {queue} in NAME is the "
              "TaskQueue's name (one etcd role per queue).")
@click.option("--health-port", type=click.IntRange(1, 65535), default=None,
              envvar="KUBETASK_HEALTH_PORT",
              help="Serve kopf's liveness probe at http://HOST:PORT/healthz (default: off).")
@click.option("--health-host", default="0.0.0.0", show_default=True,
              envvar="KUBETASK_HEALTH_HOST", help="Address of the liveness endpoint.")
@metrics_options
@log_options
def operator(etcd_endpoints: str, namespace: str | None, worker_image: str,
             etcd_tls_secret: str | None, health_port: int | None, health_host: str,
             metrics_port: int | None, metrics_host: str,
             log_level: str, log_format: str) -> None:
    """Run the Kubernetes operator: Task and TaskQueue resources mirrored into etcd.

    Uses KUBECONFIG (or ~/.kube/config), else the pod's service account.
    """
    try:
        from kubetask.operator.run import run_operator
        from kubetask.operator.settings import OperatorSettings
    except ImportError as exc:
        raise click.ClickException(f"the operator needs kopf and kubernetes ({exc}): "
                                   "pip install 'kubetask[operator]'") from exc
    configure(log_level, log_format, name="operator")
    log.info("%s", startup_line(etcd_endpoints, namespace, worker_image))
    hooks, endpoint = start_metrics(metrics.operator_metrics, metrics_port, metrics_host)
    try:
        run_operator(OperatorSettings(etcd_endpoints=etcd_endpoints, namespace=namespace,
                                      worker_image=worker_image, health_port=health_port,
                                      health_host=health_host,
                                      etcd_credentials=etcd_credentials(),
                                      etcd_tls_secret=etcd_tls_secret), hooks)
    finally:
        if endpoint is not None:
            endpoint.close()
    log.info("operator stopped")
