"""Pinned upstream versions of the dev cluster. Change one here and the cache key changes with it.

Kubernetes 1.37.2 is the newest release whose go.mod (`go 1.26.0`) builds with the local Go 1.26 toolchain.
"""

from __future__ import annotations

KUBERNETES = "1.37.2"
ETCD = "3.6.16"
KWOK = "0.8.0"

# Upstream CRD sources, read from the Go module cache at run time, never committed.
KUEUE = "v0.19.2"
KEDA = "v2.21.0"
# v1.7.0 needs Go 1.27; v1.6.3 is the newest that the local toolchain downloads.
GATEWAY_API = "v1.6.3"
PROMETHEUS_OPERATOR = "v0.85.0"


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """Staging modules are tagged v0.Y.Z for Kubernetes v1.Y.Z (true since 1.17)."""
    major, minor, patch = kubernetes.split(".")
    del major
    return f"0.{minor}.{patch}"


KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
