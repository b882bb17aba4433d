"""Upstream CRDs come from the Go module cache at run time and are real: Kueue serves v1beta2 and validates."""

from __future__ import annotations

import subprocess

import pytest
from conftest import AICONFORM, E2E_CLUSTER, Cluster

from aiconform.devtools.devcluster import upstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream_crds(cluster: Cluster) -> list[str]:
    import asyncio
    from pathlib import Path

    from aiconform.kube.client import KubeClient, load_credentials

    async def install() -> list[str]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            return await upstream.install(kube, ["kueue", "keda", "gateway-api", "servicemonitor"])

    return asyncio.run(install())


def test_crd_sets_installed_and_established(cluster: Cluster, upstream_crds: list[str]) -> None:
    for name in (
        "clusterqueues.kueue.x-k8s.io",
        "scaledobjects.keda.sh",
        "gateways.gateway.networking.k8s.io",
        "servicemonitors.monitoring.coreos.com",
        "workloads.kueue.x-k8s.io",
    ):
        assert name in upstream_crds
    cq = cluster.get_json("crd", "clusterqueues.kueue.x-k8s.io")
    served = {v["name"] for v in cq["spec"]["versions"] if v["served"]}
    assert "v1beta2" in served


def test_kueue_v1beta2_schema_is_enforced(cluster: Cluster, upstream_crds: list[str]) -> None:
    good = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: e2e-h100}
spec: {nodeLabels: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}
"""
    assert cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=good).returncode == 0
    bad = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: e2e-bad}
spec: {queueingStrategy: Sideways}
"""
    out = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=bad, check=False)
    assert out.returncode != 0 and "queueingStrategy" in out.stderr


def test_no_upstream_file_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert not [f for f in tracked if f.startswith(("kueue.x-k8s.io_", "keda.sh_")) or "/kueue.x-k8s.io_" in f]


def test_unknown_set_is_a_clear_error(cluster: Cluster) -> None:
    out = subprocess.run(
        [*AICONFORM, "dev-cluster", "--name", E2E_CLUSTER, "install-crds", "volcano"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "unknown set" in out.stderr and "Traceback" not in out.stderr
