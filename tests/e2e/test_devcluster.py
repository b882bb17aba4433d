"""The dev cluster is a real control plane: version, APIs, RBAC, the simulated GPU fleet, the scheduler."""

from __future__ import annotations

import socket
import subprocess
import uuid

import pytest
from conftest import AICONFORM, Cluster

from aiconform.devtools.devcluster import versions

pytestmark = pytest.mark.e2e


def test_version_and_apis_served(cluster: Cluster) -> None:
    raw = cluster.kubectl("get", "--raw", "/version").stdout
    assert f'"gitVersion": "v{versions.KUBERNETES}"' in raw
    resources = cluster.kubectl("api-resources", "--api-group=resource.k8s.io", "-o", "name").stdout.split()
    for kind in ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"):
        assert f"{kind}.resource.k8s.io" in resources
    versions_out = cluster.kubectl("api-versions").stdout.split()
    assert "resource.k8s.io/v1" in versions_out
    assert "admissionregistration.k8s.io/v1" in versions_out
    vap = cluster.kubectl("api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name").stdout
    assert "validatingadmissionpolicies" in vap


def test_rbac_is_enforced(cluster: Cluster) -> None:
    out = cluster.kubectl("auth", "can-i", "list", "nodes", "--as=system:serviceaccount:default:nobody", check=False)
    assert out.stdout.strip() == "no"
    out = cluster.kubectl("auth", "can-i", "list", "nodes")
    assert out.stdout.strip() == "yes"


def test_gpu_fleet_labels_and_slices(cluster: Cluster) -> None:
    nodes = cluster.get_json("nodes", "-l", "aiconform.io/dev-fleet=true")["items"]
    gpu = [n for n in nodes if n["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"]
    cpu = [n for n in nodes if n not in gpu]
    assert len({n["metadata"]["labels"]["nvidia.com/gpu.product"] for n in gpu}) >= 2, "two GPU pools"
    assert cpu, "CPU-only nodes"
    for node in gpu:
        labels = node["metadata"]["labels"]
        for key in (
            "nvidia.com/gpu.count",
            "nvidia.com/cuda.driver-version.full",
            "nvidia.com/cuda.runtime-version.full",
            "nvidia.com/gpu.sharing-strategy",
            "nvidia.com/mig.capable",
        ):
            assert key in labels, (node["metadata"]["name"], key)
    mig = [n for n in gpu if n["metadata"]["labels"].get("nvidia.com/mig.capable") == "true"]
    assert mig and all("nvidia.com/mig-1g.10gb" in n["status"]["allocatable"] for n in mig)
    slices = cluster.get_json("resourceslices.resource.k8s.io")["items"]
    by_node = {s["spec"]["nodeName"]: s for s in slices}
    assert {n["metadata"]["name"] for n in gpu} <= set(by_node)
    assert not {n["metadata"]["name"] for n in cpu} & set(by_node)
    for node in gpu:
        attrs = by_node[node["metadata"]["name"]]["spec"]["devices"][0]["attributes"]
        assert {"uuid", "productName", "driverVersion"} <= set(attrs)


def test_gpu_pod_is_scheduled_on_gpu_node_and_runs(cluster: Cluster) -> None:
    ns = f"e2e-gpu-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    try:
        pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: trainer, namespace: {ns}}}
spec:
  containers:
  - name: c
    image: example.invalid/cuda:12
    resources: {{limits: {{nvidia.com/gpu: "2"}}}}
"""
        cluster.kubectl("apply", "-f", "-", input=pod)

        def running() -> dict[str, object] | None:
            got = cluster.get_json("pod", "-n", ns, "trainer")
            return got if got["status"].get("phase") == "Running" else None

        got = cluster.wait_for("GPU pod Running", running, timeout=60)
        node = cluster.get_json("node", got["spec"]["nodeName"])
        assert node["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"
        # ExtendedResourceToleration admission added the toleration for the GPU taint.
        assert any(t.get("key") == "nvidia.com/gpu" for t in got["spec"]["tolerations"])
        assert got["status"]["podIP"].startswith("127.")
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_port_in_use_is_a_clear_error(cluster: Cluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [*AICONFORM, "dev-cluster", "--name", "e2e-busy", "up", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert out.returncode == 2
    assert "check port" in out.stderr and str(port) in out.stderr
    assert "Traceback" not in out.stderr


def test_status_reports_components(cluster: Cluster) -> None:
    if not cluster.started_here:
        pytest.skip("cluster not started by this session")
    out = subprocess.run(
        [*AICONFORM, "dev-cluster", "--name", "e2e", "status"], capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 0, out.stdout
    for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        assert comp in out.stdout
    assert "stopped" not in out.stdout
