"""Verdicts flip both ways within seconds on the real control plane, with the operator as its own process.

Each scenario changes the cluster the way an incident or an install would, waits for the profile's condition to
follow, then undoes the change and waits for it to come back. Times are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster, Operator

from aiconform.devtools.devcluster import fleet, upstream
from aiconform.kube.client import KubeClient, load_credentials

pytestmark = pytest.mark.e2e
FLIP_TIMEOUT = 30.0  # seconds; DCGM scrapes follow the 10 s evaluation interval, everything else a watch event


def _requirement(obj: dict[str, Any], rid: str) -> dict[str, Any] | None:
    return next((r for r in (obj.get("status") or {}).get("requirements", []) if r["id"] == rid), None)


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == ctype), None)


class Profile:
    def __init__(self, cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
        self.cluster, self.name = cluster, name
        doc = {
            "apiVersion": "aiconform.io/v1alpha1",
            "kind": "ConformanceProfile",
            "metadata": {"name": name},
            "spec": spec,
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def get(self) -> dict[str, Any]:
        return self.cluster.get_json("cprof", self.name)

    def wait(self, rid: str, status: str | tuple[str, ...], reason: str | None = None) -> dict[str, Any]:
        """Wait until requirement `rid` has verdict `status` (and `reason`); return it, printing how long."""
        wanted = (status,) if isinstance(status, str) else status
        started = time.monotonic()

        def reached() -> dict[str, Any] | None:
            req = _requirement(self.get(), rid)
            if req and req["status"] in wanted and (reason is None or req["reason"] == reason):
                return req
            return None

        req: dict[str, Any] = self.cluster.wait_for(f"{rid} → {wanted} {reason or ''}", reached, timeout=FLIP_TIMEOUT)
        print(f"{rid}: {req['status']} ({req['reason']}) after {time.monotonic() - started:.2f}s")
        return req

    def delete(self) -> None:
        self.cluster.kubectl("delete", "cprof", self.name, "--timeout=30s", check=False)


@pytest.fixture
def profile(cluster: Cluster, operator: Operator) -> Iterator[Profile]:
    prof = Profile(
        cluster, f"e2e-{uuid.uuid4().hex[:6]}", {"kubernetesVersion": "v1.35", "evaluationIntervalSeconds": 10}
    )
    cluster.wait_for("first evaluation", lambda: _requirement(prof.get(), "dra_support"), timeout=30)
    yield prof
    prof.delete()


def _run(cluster: Cluster, coro_fn: Any) -> Any:
    async def go() -> Any:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            return await coro_fn(kube)

    return asyncio.run(go())


DEVICE_CLASS = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "DeviceClass",
    "metadata": {"name": "e2e-gpu.nvidia.com"},
    "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}}]},
}


def test_resource_slices_removed_and_restored(cluster: Cluster, profile: Profile) -> None:
    pool = fleet.default_pools(2, 2, 0)[1]  # a100
    victim = fleet.resource_slice(pool, 1)
    assert victim is not None
    _run(cluster, lambda kube: kube.apply(DEVICE_CLASS, field_manager="e2e"))
    try:
        # Slices and a class that selects their devices are API presence: until a probe allocates a claim,
        # the truthful verdict is Partially Implemented (PresenceOnly), condition Unknown.
        req = profile.wait("dra_support", "Partially Implemented", "PresenceOnly")
        assert req["tier"] == "APIPresence" and "a probe allocating a ResourceClaim" in req["message"]
        cond = _condition(profile.get(), "dra_support")
        assert cond is not None and cond["status"] == "Unknown"
        _run(cluster, lambda kube: kube.delete(victim))
        req = profile.wait("dra_support", "Not Implemented", "ResourceSlicesMissing")
        assert victim["spec"]["nodeName"] in req["message"]
        cond = _condition(profile.get(), "dra_support")
        assert cond is not None and cond["status"] == "False"
        _run(cluster, lambda kube: kube.apply(victim, field_manager=fleet.FIELD_MANAGER))
        profile.wait("dra_support", "Partially Implemented", "PresenceOnly")
    finally:
        _run(cluster, lambda kube: kube.apply(victim, field_manager=fleet.FIELD_MANAGER))
        _run(cluster, lambda kube: kube.delete(DEVICE_CLASS))


def test_driver_skew_on_one_node(cluster: Cluster, profile: Profile) -> None:
    pool = fleet.default_pools(2, 2, 0)[0]  # h100
    good = fleet.resource_slice(pool, 1)
    assert good is not None
    skewed = json.loads(json.dumps(good))
    for dev in skewed["spec"]["devices"]:
        dev["attributes"]["driverVersion"] = {"version": "535.104.5"}
    # The dev fleet's slices are applied by the harness, not published by a DRA kubelet plugin (no Node owns
    # them), so uniform versions are presence only.
    req = profile.wait("driver_runtime_management", "Partially Implemented", "PresenceOnly")
    assert req["tier"] == "APIPresence" and "not owned by their Node" in req["message"]
    try:
        _run(cluster, lambda kube: kube.apply(skewed, field_manager=fleet.FIELD_MANAGER))
        req = profile.wait("driver_runtime_management", "Not Implemented", "DriverVersionSkew")
        assert "kwok-h100-0001" in req["message"] and "535.104.5" in req["message"]
        # the node's GFD label still says 550.90.07: the disagreement is named with both values
        assert "Node/kwok-h100-0001 label nvidia.com/cuda.driver-version.full=550.90.07" in req["message"]
    finally:
        _run(cluster, lambda kube: kube.apply(good, field_manager=fleet.FIELD_MANAGER))
    profile.wait("driver_runtime_management", "Partially Implemented", "PresenceOnly")


KUEUE_CONTROLLER = """
apiVersion: v1
kind: Namespace
metadata: {name: kueue-system}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kueue-controller-manager
  namespace: kueue-system
  labels: {app.kubernetes.io/name: kueue, control-plane: controller-manager}
spec:
  replicas: 1
  selector: {matchLabels: {control-plane: controller-manager}}
  template:
    metadata: {labels: {control-plane: controller-manager, app.kubernetes.io/name: kueue}}
    spec:
      containers: [{name: manager, image: example.invalid/kueue:v0.19.2}]
"""


CLUSTER_QUEUE = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: e2e-gang}
spec:
  namespaceSelector: {}
  resourceGroups:
    - coveredResources: [cpu]
      flavors: [{name: e2e-gang-flavor, resources: [{name: cpu, nominalQuota: "4"}]}]
"""


def _kueue_reports_active(cluster: Cluster) -> None:
    """The status the Kueue controller writes on a ClusterQueue it admits for, at the queue's generation."""
    generation = cluster.get_json("clusterqueue", "e2e-gang")["metadata"]["generation"]
    active = {
        "type": "Active",
        "status": "True",
        "reason": "Ready",
        "message": "Can admit new workloads",
        "observedGeneration": generation,
        "lastTransitionTime": "2026-12-01T00:00:00Z",
    }
    patch = json.dumps({"status": {"conditions": [active]}})
    cluster.kubectl("patch", "clusterqueue", "e2e-gang", "--subresource=status", "--type=merge", "-p", patch)


def test_kueue_installed_and_removed(cluster: Cluster, profile: Profile) -> None:
    """A Deployment called kueue-controller-manager (any image is "available" under kwok) and the CRDs are
    presence only; a ClusterQueue nobody reconciles is evidence against; the Active status the controller writes
    at the queue's generation is what makes it Implemented."""
    cluster.kubectl("apply", "-f", "-", input=KUEUE_CONTROLLER)
    try:
        _run(cluster, lambda kube: upstream.install(kube, ["kueue"]))
        req = profile.wait("gang_scheduling", "Partially Implemented", "PresenceOnly")
        assert req["tier"] == "APIPresence"
        assert "ClusterQueue the Kueue controller reports Active" in req["message"]
        cluster.kubectl("apply", "-f", "-", input=CLUSTER_QUEUE)
        req = profile.wait("gang_scheduling", "Not Implemented", "CRsNotReconciled")
        assert "ClusterQueue/e2e-gang has no status" in req["message"]
        _kueue_reports_active(cluster)
        req = profile.wait("gang_scheduling", "Implemented", "APIVerified")
        assert req["tier"] == "ControllerStatus" and "ClusterQueue/e2e-gang Active=True" in req["message"]
        _run(cluster, lambda kube: upstream.uninstall(kube, ["kueue"]))
        req = profile.wait("gang_scheduling", "Not Implemented", "CRDsMissing")
        assert "kueue" in req["message"].lower()
        _run(cluster, lambda kube: upstream.install(kube, ["kueue"]))  # the queue went with its CRD
        profile.wait("gang_scheduling", "Partially Implemented", "PresenceOnly")
    finally:
        cluster.kubectl("delete", "clusterqueue", "e2e-gang", "--ignore-not-found", "--wait=false", check=False)
        cluster.kubectl("delete", "namespace", "kueue-system", "--wait=false", check=False)


class FakeDcgm:
    """DCGM exporter endpoints on the exporter pods' loopback IPs (kwok hands out 127.8.0.0/16)."""

    def __init__(self) -> None:
        self.servers: list[http.server.ThreadingHTTPServer] = []
        self.bodies: dict[str, str] = {}  # pod IP → metrics text

    def serve(self, ip: str, port: int, body: str) -> None:
        assert ip.startswith("127."), f"refusing to bind a non-loopback address {ip}"
        self.bodies[ip] = body
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = fake.bodies[ip].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((ip, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def dcgm_text(node: str, uuids: list[str], skip_fb_for: str | None = None) -> str:
    lines = [
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).",
        "# TYPE DCGM_FI_DEV_FB_USED gauge",
    ]
    for i, gpu in enumerate(uuids):
        labels = f'gpu="{i}",UUID="{gpu}",device="nvidia{i}",Hostname="{node}"'
        lines.append(f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {10 + i}")
        if gpu != skip_fb_for:
            lines.append(f"DCGM_FI_DEV_FB_USED{{{labels}}} {1024 * i}")
    return "\n".join(lines) + "\n"


DCGM_DS = """
apiVersion: v1
kind: Namespace
metadata: {name: e2e-dcgm}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: dcgm-exporter, namespace: e2e-dcgm, labels: {app.kubernetes.io/name: dcgm-exporter}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: dcgm-exporter}}
  template:
    metadata: {labels: {app.kubernetes.io/name: dcgm-exporter}}
    spec:
      nodeSelector: {nvidia.com/gpu.present: "true"}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: exporter
        image: example.invalid/dcgm-exporter:4
        ports: [{name: metrics, containerPort: 9400}]
"""


def _gpu_uuids(cluster: Cluster) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rs in cluster.get_json("resourceslices.resource.k8s.io")["items"]:
        ids: list[str] = []
        for dev in rs["spec"]["devices"]:
            attrs = dev["attributes"]
            uid = attrs["uuid"]["string"] if attrs["type"]["string"] == "gpu" else attrs["parentUUID"]["string"]
            if uid not in ids:
                ids.append(uid)
        out[rs["spec"]["nodeName"]] = ids
    return out


def test_dcgm_endpoint_missing_metrics(cluster: Cluster, profile: Profile) -> None:
    cluster.kubectl("apply", "-f", "-", input=DCGM_DS)
    fake = FakeDcgm()
    try:
        gpus = _gpu_uuids(cluster)

        def exporter_pods() -> list[dict[str, Any]] | None:
            pods = [
                p
                for p in cluster.get_json("pods", "-n", "e2e-dcgm")["items"]
                if p["status"].get("phase") == "Running" and p["status"].get("podIP")
            ]
            return pods if len(pods) == len(gpus) else None

        pods = cluster.wait_for("an exporter pod Running on every GPU node", exporter_pods, timeout=60)
        by_ip = {p["status"]["podIP"]: p["spec"]["nodeName"] for p in pods}
        for ip, node in by_ip.items():
            fake.serve(ip, 9400, dcgm_text(node, gpus[node]))
        req = profile.wait("accelerator_metrics", "Implemented")
        assert req["tier"] == "Observed"  # the operator scraped the exporters

        ip, node = next(iter(by_ip.items()))
        fake.bodies[ip] = dcgm_text(node, gpus[node], skip_fb_for=gpus[node][0])
        req = profile.wait("accelerator_metrics", "Not Implemented", "MetricsMissing")
        assert node in req["message"] and "DCGM_FI_DEV_FB_USED" in req["message"]

        fake.bodies[ip] = dcgm_text(node, gpus[node])
        profile.wait("accelerator_metrics", "Implemented")
    finally:
        fake.close()
        cluster.kubectl("delete", "namespace", "e2e-dcgm", "--wait=false", check=False)


PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata: {{name: sneaky, namespace: {ns}}}
spec:
  containers:
  - name: c
    image: example.invalid/cuda:12
    securityContext: {{privileged: true}}
    volumeMounts: [{{name: dev, mountPath: /dev/nvidia0}}]
  volumes: [{{name: dev, hostPath: {{path: /dev/nvidia0}}}}]
"""


def test_privileged_pod_with_device_hostpath_in_tenant_namespace(cluster: Cluster, profile: Profile) -> None:
    ns = f"e2e-tenant-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, "aiconform.io/tenant=true")
    try:
        before = profile.wait("secure_accelerator_access", ("Partially Implemented", "Implemented"))
        cluster.kubectl("apply", "-f", "-", input=PRIVILEGED_POD.format(ns=ns))
        req = profile.wait("secure_accelerator_access", "Not Implemented", "InsecureAcceleratorAccess")
        assert f"{ns}/sneaky" in req["message"]
        cluster.kubectl("delete", "pod", "-n", ns, "sneaky", "--grace-period=0", "--force")
        after = profile.wait("secure_accelerator_access", before["status"], before["reason"])
        assert after["status"] == before["status"]
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_declared_na_is_honoured_and_withdrawn(cluster: Cluster, profile: Profile) -> None:
    req = profile.wait("gpu_sharing", "Implemented")
    assert req["tier"] == "ControllerStatus"  # MIG resources in the allocatable of Ready nodes
    patch = {"spec": {"requirements": {"gpu_sharing": {"status": "N/A", "notes": "sharing disabled by policy"}}}}
    cluster.kubectl("patch", "cprof", profile.name, "--type=merge", "-p", json.dumps(patch))
    req = profile.wait("gpu_sharing", "N/A", "Declared")
    assert req["declared"] is True and "sharing disabled by policy" in req["message"]
    cluster.kubectl(
        "patch",
        "cprof",
        profile.name,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/requirements/gpu_sharing"}]',
    )
    req = profile.wait("gpu_sharing", "Implemented")
    assert req["declared"] is False


def test_flip_posts_an_event(cluster: Cluster, profile: Profile) -> None:
    patch = {"spec": {"requirements": {"robust_controller": {"status": "Implemented", "notes": "KubeRay, tested"}}}}
    cluster.kubectl("patch", "cprof", profile.name, "--type=merge", "-p", json.dumps(patch))
    profile.wait("robust_controller", "Implemented", "Declared")

    def event() -> bool:
        events = cluster.get_json("events", "-A", "--field-selector", f"involvedObject.name={profile.name}")["items"]
        return any(e["reason"] == "Declared" and "robust_controller" in e["message"] for e in events)

    cluster.wait_for("an Event for the flip", event, timeout=15)
