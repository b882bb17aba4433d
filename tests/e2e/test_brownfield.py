"""Brownfield (issue 15, deliverables 3 and 4) on the dev cluster: what a GPU-Operator cluster with the NVIDIA DRA
driver holds, then examples/production.yaml. Zero conflicts, zero duplicate exporters, states that tell the truth;
uninstalling the GPU Operator's exporter makes the component deploy ours.

The GPU Operator's manifests are read from its Go module at test time (nothing of it is committed): the
ClusterPolicy CRD (config/crd/bases), the sample ClusterPolicy (config/samples), the DCGM exporter's
ServiceAccount, DaemonSet and Service as the operator renders them (assets/state-dcgm-exporter, with the
namespace and images it fills in from its Helm values). The DeviceClasses are shaped like the NVIDIA DRA driver's
Helm chart's (`gpu.nvidia.com`, `mig.nvidia.com`, Helm ownership metadata, the driver's CEL selectors).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, Cluster, Operator

pytestmark = pytest.mark.e2e

GPU_OPERATOR = "github.com/NVIDIA/gpu-operator"
# `go list -m -versions` lists none (its tags are not semver for Go); the newest pseudo-version the proxy gives.
GPU_OPERATOR_VERSION = os.environ.get("AICONFORM_GPU_OPERATOR_VERSION", "v0.0.0-20250917190837-d73a0086a6ba")
NS = "gpu-operator"
FILLED = "FILLED BY THE OPERATOR"
PROFILE = "production"
COMPONENTS = ("dra", "kueue", "keda", "dcgmExporter", "quotas", "networkPolicies", "seccomp")
HELM_DRA = {
    "labels": {"app.kubernetes.io/managed-by": "Helm"},
    "annotations": {
        "meta.helm.sh/release-name": "nvidia-dra-driver-gpu",
        "meta.helm.sh/release-namespace": "nvidia-dra",
    },
}
DRA_CLASSES = {
    "gpu.nvidia.com": "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'",
    "mig.nvidia.com": "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'",
}


@pytest.fixture(scope="module")
def gpu_operator_dir() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is needed to fetch the GPU Operator's module")
    with tempfile.TemporaryDirectory() as outside:  # outside any module, as `go mod download` wants it
        out = subprocess.run(
            [go, "mod", "download", "-json", f"{GPU_OPERATOR}@{GPU_OPERATOR_VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=outside,
        )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        pytest.fail(f"go mod download {GPU_OPERATOR}@{GPU_OPERATOR_VERSION}: {info.get('Error') or out.stderr}")
    return Path(info["Dir"])


def _docs(path: Path) -> list[dict[str, Any]]:
    return [_no_nulls(d) for d in yaml.safe_load_all(path.read_text()) if d]


def _no_nulls(obj: Any) -> Any:
    """Empty keys left out (the sample ClusterPolicy has `plugin:` with nothing under it, which the schema refuses
    as null; kubectl's client-side apply drops them the same way)."""
    if isinstance(obj, dict):
        return {k: _no_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_no_nulls(v) for v in obj]
    return obj


def _fill(obj: Any, values: dict[str, str]) -> Any:
    """What the GPU Operator fills in: the namespace and the images."""
    if isinstance(obj, dict):
        return {k: _fill(v, values) if not (v == FILLED and k in values) else values[k] for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, values) for v in obj]
    return obj


def _rendered_exporter(root: Path, policy_uid: str) -> list[dict[str, Any]]:
    """The exporter's ServiceAccount, Service and DaemonSet as the GPU Operator renders them in its namespace."""
    values = yaml.safe_load((root / "deployments/gpu-operator/values.yaml").read_text())
    chart = yaml.safe_load((root / "deployments/gpu-operator/Chart.yaml").read_text())
    exporter = values["dcgmExporter"]
    validator = values["validator"]
    images = {
        "exporter": f"{exporter['repository']}/{exporter['image']}:{exporter['version']}",
        "validator": f"{validator['repository']}/{validator['image']}:"
        f"{validator.get('version') or chart['appVersion']}",
    }
    owner = {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "name": "gpu-cluster-policy",
        "uid": policy_uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    out = []
    assets = root / "assets/state-dcgm-exporter"
    for name in ("0100_service_account.yaml", "0600_service.yaml", "0900_daemonset.yaml"):
        for doc in _docs(assets / name):
            doc = _fill(doc, {"namespace": NS})
            doc["metadata"]["ownerReferences"] = [owner]
            if doc["kind"] == "DaemonSet":
                pod = doc["spec"]["template"]["spec"]
                for c in pod.get("initContainers", []):
                    c["image"] = images["validator"]
                for c in pod["containers"]:
                    c["image"] = images["exporter"]
                doc["metadata"].pop("annotations", None)  # the OpenShift SCC annotation
            out.append(doc)
    return out


def _apply(cluster: Cluster, docs: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "--server-side", "--field-manager=gpu-operator", "-f", "-", input=yaml.safe_dump_all(docs))


def _status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.get_json("cprof", PROFILE).get("status") or {})


def _components(cluster: Cluster) -> dict[str, Any]:
    return dict(_status(cluster).get("components") or {})


def _exporter_daemonsets(cluster: Cluster) -> list[str]:
    items = cluster.get_json("daemonsets", "-A")["items"]
    return sorted(
        f"{d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in items
        if any("dcgm-exporter" in c.get("image", "") for c in d["spec"]["template"]["spec"]["containers"])
    )


def _gpu_nodes(cluster: Cluster) -> list[str]:
    out = cluster.kubectl("get", "nodes", "-l", "nvidia.com/gpu.present=true", "-o", "name").stdout.split()
    return [n.split("/", 1)[1] for n in out]


@pytest.fixture(scope="module")
def brownfield(cluster: Cluster, operator: Operator, gpu_operator_dir: Path) -> Iterator[Path]:
    root = gpu_operator_dir
    # The GPU Operator: its CRD, the sample ClusterPolicy, its node labels, the exporter it renders.
    cluster.kubectl("apply", "--server-side", "--field-manager=gpu-operator", "-f", str(root / "config/crd/bases"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clusterpolicies.nvidia.com", "--timeout=60s")
    cluster.kubectl("create", "namespace", NS, check=False)
    _apply(cluster, _docs(root / "config/samples/v1_clusterpolicy.yaml"))
    uid = cluster.get_json("clusterpolicy", "gpu-cluster-policy")["metadata"]["uid"]
    for node in _gpu_nodes(cluster):
        cluster.kubectl("label", "node", node, "nvidia.com/gpu.deploy.dcgm-exporter=true", "--overwrite")
    _apply(cluster, _rendered_exporter(root, uid))
    # The NVIDIA DRA driver's DeviceClasses, as its Helm chart installs them.
    classes = [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": name, **HELM_DRA},
            "spec": {"selectors": [{"cel": {"expression": cel}}]},
        }
        for name, cel in DRA_CLASSES.items()
    ]
    _apply(cluster, classes)
    nodes = _gpu_nodes(cluster)
    cluster.wait_for(
        "the GPU Operator's exporter pods running on every GPU node",
        lambda: (
            sorted(
                p["spec"].get("nodeName", "")
                for p in cluster.get_json("pods", "-n", NS, "-l", "app=nvidia-dcgm-exporter")["items"]
                if p.get("status", {}).get("phase") == "Running"
            )
            == sorted(nodes)
        ),
        timeout=60,
    )
    cluster.kubectl("apply", "-f", str(ROOT / "examples" / "production.yaml"))
    try:
        yield root
    finally:
        cluster.kubectl("delete", "cprof", PROFILE, "--timeout=60s", check=False)
        cluster.kubectl("delete", "deviceclass", *DRA_CLASSES, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterpolicy", "--all", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "namespace", NS, "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "crd", "clusterpolicies.nvidia.com", "nvidiadrivers.nvidia.com", check=False)


def _settled(cluster: Cluster, want: dict[str, str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        comps = _components(cluster)
        return comps if all(comps.get(c, {}).get("state") == s for c, s in want.items()) else None

    result: dict[str, Any] = cluster.wait_for(f"component states {want}", check, timeout=90, interval=0.5)
    return result


def test_platform_provided_parts_are_verified_not_duplicated_or_fought(cluster: Cluster, brownfield: Path) -> None:
    # The session's cluster may already have Kueue's CRDs (an earlier test installed them): then the kueue
    # component has its prerequisite and is not Blocked; without them it must say Blocked, never Ready.
    kueue_crds = cluster.kubectl("get", "crd", "clusterqueues.kueue.x-k8s.io", check=False).returncode == 0
    want = {"dra": "Provided", "dcgmExporter": "Blocked"} | ({} if kueue_crds else {"kueue": "Blocked"})
    comps = _settled(cluster, want)
    # Zero conflicts anywhere.
    assert {c: comps[c].get("conflicts") for c in COMPONENTS if comps[c].get("conflicts")} == {}
    assert all(comps[c]["state"] != "Conflict" for c in COMPONENTS), comps
    # DRA: the driver's classes stay the driver's; only the adminAccess policy (2 policies + 2 bindings) is ours.
    assert comps["dra"]["managed"] == 4
    assert (
        "DeviceClass/gpu.nvidia.com provided by the platform (Helm release nvidia-dra/nvidia-dra-driver-gpu)"
        in (comps["dra"]["message"])
    )
    for name in DRA_CLASSES:
        meta = cluster.get_json("deviceclass", name)["metadata"]
        assert "ownerReferences" not in meta and meta["labels"] == HELM_DRA["labels"]
    # DCGM: one exporter, the GPU Operator's; production asks for ecc, which its built-in CSV leaves out.
    assert _exporter_daemonsets(cluster) == [f"{NS}/nvidia-dcgm-exporter"]
    assert comps["dcgmExporter"]["managed"] == 0
    message = comps["dcgmExporter"]["message"]
    assert "does not collect ecc" in message and "ClusterPolicy gpu-cluster-policy spec.dcgmExporter.config.name" in (
        message
    )
    assert cluster.kubectl("get", "namespace", "aiconform-dcgm", check=False).returncode != 0
    # Kueue: without its CRDs it says so instead of Ready.
    if not kueue_crds:
        assert "CRDs not installed" in comps["kueue"]["message"]
    else:
        assert comps["kueue"]["state"] != "Blocked", comps["kueue"]
    # -o wide shows the states.
    wide = cluster.kubectl("get", "cprof", PROFILE, "-o", "wide").stdout
    assert "DCGM" in wide.splitlines()[0] and "Provided" in wide and "Blocked" in wide


def test_exporter_verified_when_it_collects_what_the_profile_asks(cluster: Cluster, brownfield: Path) -> None:
    patch = {"spec": {"components": {"dcgmExporter": {"collectors": ["xid", "nvlink"]}}}}
    cluster.kubectl("patch", "cprof", PROFILE, "--type=merge", "-p", json.dumps(patch))
    comps = _settled(cluster, {"dcgmExporter": "Provided"})
    assert "running on all 4 accelerator nodes" in comps["dcgmExporter"]["message"]
    assert _exporter_daemonsets(cluster) == [f"{NS}/nvidia-dcgm-exporter"]
    # The verdict on accelerator metrics sees the GPU Operator's exporter (not "no exporter").
    requirement = next(
        (r for r in _status(cluster).get("requirements") or [] if r.get("id") == "accelerator_metrics"), {}
    )
    assert "no DCGM exporter DaemonSet found" not in json.dumps(requirement)


def test_uninstalling_the_gpu_operator_exporter_deploys_ours(cluster: Cluster, brownfield: Path) -> None:
    # Uninstalling the GPU Operator: its ClusterPolicy goes, and with it (owner reference) the exporter.
    cluster.kubectl("delete", "clusterpolicy", "gpu-cluster-policy", "--timeout=60s")
    cluster.kubectl("delete", "daemonset", "nvidia-dcgm-exporter", "-n", NS, "--ignore-not-found", "--timeout=60s")
    cluster.wait_for(
        "our exporter instead of the GPU Operator's",
        lambda: _exporter_daemonsets(cluster) == ["aiconform-dcgm/dcgm-exporter"],
        timeout=90,
        interval=0.5,
    )
    ds = cluster.get_json("daemonset", "dcgm-exporter", "-n", "aiconform-dcgm")
    assert [o["kind"] for o in ds["metadata"]["ownerReferences"]] == ["ConformanceProfile"]
    comps = cluster.wait_for(
        "dcgmExporter Ready",
        lambda: (c := _components(cluster)) and c["dcgmExporter"]["state"] in ("Ready", "Progressing") and c,
        timeout=60,
    )
    assert comps["dcgmExporter"]["managed"] >= 5 and not comps["dcgmExporter"].get("conflicts")
