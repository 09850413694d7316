"""The Kubernetes operator (`kubetask operator`): Task and TaskQueue resources mirrored into
etcd with kopf. The only package that imports kopf and kubernetes."""

from kubetask.operator.settings import OperatorSettings

__all__ = ["OperatorSettings"]
