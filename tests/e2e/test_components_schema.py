"""Every object the components produce is accepted by the real API server and the real upstream CRD schemas
(Kueue v1beta2, KEDA, Prometheus Operator), and the admission policies type-check and do what they say.

A snapshot is collected from the live dev cluster with two test-unique tenant namespaces and inference
Deployments in them; `desired()` runs with every component enabled; each object is server-side applied with
`--dry-run=server` under our field manager. The admission policies are then applied for real under unique names
(no owner reference, so the garbage collector leaves them alone), checked for type-checking warnings, bound to
the test tenants only, exercised, and deleted.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster

from aiconform.api.constants import FIELD_MANAGER
from aiconform.api.models import ProfileSpec
from aiconform.components import COMPONENTS, Plan, ProfileRef, apply_order, desired, dra
from aiconform.devtools.devcluster import upstream
from aiconform.kube.client import KubeClient, load_credentials
from aiconform.kube.collect import collect
from aiconform.kube.snapshot import Snapshot

pytestmark = pytest.mark.e2e

PAUSE = "registry.k8s.io/pause:3.10"


@dataclass
class World:
    suffix: str
    tenants: tuple[str, str]
    dcgm_namespace: str
    dra_namespace: str  # stands in for the fixed aiconform-dra-driver, so parallel runs never share it
    spec: ProfileSpec
    snapshot: Snapshot
    plans: dict[str, Plan]


def _spec(suffix: str, dcgm_namespace: str) -> ProfileSpec:
    return ProfileSpec.model_validate(
        {
            "tenants": {"namespaceSelector": {"matchLabels": {"aiconform.io/e2e-components": suffix}}},
            "components": {
                "dra": {"enabled": True, "kubeletPlugin": {"enabled": True, "image": "example.com/dra-plugin:1"}},
                "kueue": {"enabled": True, "clusterQueue": f"e2e-{suffix}", "cpuQuota": "100", "memoryQuota": "1Ti"},
                "keda": {"enabled": True},
                "dcgmExporter": {"enabled": True, "namespace": dcgm_namespace, "collectors": ["xid", "nvlink", "ecc"]},
                "quotas": {"enabled": True, "draDevicesPerTenant": 2},
                "networkPolicies": {"enabled": True, "gatewayNamespace": "gateway"},
                "seccomp": {"enabled": True, "enforcement": "Deny"},
            },
        }
    )


def _deployment(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    pod_labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [{"name": "main", "image": PAUSE}]},
            },
        },
    }


def _hpa(namespace: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
    }


def _apply(cluster: Cluster, docs: list[dict[str, Any]], *extra: str, check: bool = True) -> Any:
    body = yaml.safe_dump_all(docs, sort_keys=True)
    return cluster.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", *extra, "-f", "-", input=body, check=check
    )


def _relocate(obj: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The object moved from namespace `old` to `new` (and references to `old` with it)."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    if meta.get("namespace") == old:
        meta["namespace"] = new
    if out["kind"] == "Namespace" and meta["name"] == old:
        meta["name"] = new
    for subject in out.get("subjects", []):
        if subject.get("namespace") == old:
            subject["namespace"] = new
    return out


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:6]
    tenants = (f"e2e-comp-{suffix}-a", f"e2e-comp-{suffix}-b")
    dcgm_ns, dra_ns = f"e2e-comp-{suffix}-dcgm", f"e2e-comp-{suffix}-dra"

    async def install_and_collect() -> Snapshot:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            await upstream.install(kube, ["kueue", "keda", "servicemonitor"])
            return await collect(kube, scrape=False)

    try:
        for ns in tenants:
            cluster.kubectl("create", "namespace", ns)
            cluster.kubectl("label", "namespace", ns, f"aiconform.io/e2e-components={suffix}")
        inference = {"aiconform.io/inference": "true"}
        _apply(
            cluster,
            [
                _deployment(tenants[0], "vllm", inference),
                _deployment(tenants[1], "vllm", inference),
                _deployment(tenants[1], "scaled-by-hpa", inference),
                _hpa(tenants[1], "scaled-by-hpa"),
            ],
        )
        snapshot = asyncio.run(install_and_collect())
        spec = _spec(suffix, dcgm_ns)
        plans = desired(spec, snapshot, ProfileRef(f"e2e-{suffix}", str(uuid.uuid4())))
        yield World(suffix, tenants, dcgm_ns, dra_ns, spec, snapshot, plans)
    finally:
        for ns in (*tenants, dcgm_ns, dra_ns):
            cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def _objects(world: World) -> list[dict[str, Any]]:
    objs = [o for p in world.plans.values() for o in p.objects]
    return apply_order(_relocate(o, dra.PLUGIN_NAMESPACE, world.dra_namespace) for o in objs)


def test_every_component_plans_objects(world: World) -> None:
    for component in COMPONENTS:
        assert world.plans[component].objects, f"{component}: {world.plans[component].notes}"
    keda = world.plans["keda"]
    assert sorted(o["metadata"]["namespace"] for o in keda.objects) == sorted(world.tenants)
    assert any("scaled-by-hpa" in n and "has an HPA" in n for n in keda.notes)
    assert f"ScaledObject/{world.tenants[1]}/scaled-by-hpa" in keda.skipped
    flavors = {o["metadata"]["name"] for o in world.plans["kueue"].objects if o["kind"] == "ResourceFlavor"}
    assert {"nvidia-h100-80gb-hbm3", "nvidia-a100-sxm4-80gb"} <= flavors
    kinds = {o["kind"] for o in world.plans["dcgmExporter"].objects}
    assert "ServiceMonitor" in kinds


def test_every_object_is_accepted_by_the_real_schemas(cluster: Cluster, world: World) -> None:
    objects = _objects(world)
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    # The namespaces we would create must exist for a dry run of what lives in them: create them for real.
    _apply(cluster, [_no_owner(ns) for ns in namespaces])
    rejected = []
    for obj in objects:
        out = _apply(cluster, [obj], "--dry-run=server", "--force-conflicts", check=False)
        if out.returncode != 0:
            rejected.append(
                f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}: {out.stderr.strip()}"
            )
    assert not rejected, "\n".join(rejected)


def test_field_patches_apply_as_label_owner(cluster: Cluster, world: World) -> None:
    patches = world.plans["seccomp"].field_patches
    assert sorted(p["metadata"]["name"] for p in patches) == sorted(world.tenants)
    # Only the first tenant: the second stays without Pod Security labels for the seccomp policy test.
    ns = world.tenants[0]
    _apply(cluster, [p for p in patches if p["metadata"]["name"] == ns])
    got = cluster.get_json("namespace", ns, "--show-managed-fields")
    labels = got["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "app.kubernetes.io/managed-by" not in labels and not got["metadata"].get("ownerReferences")
    ours = [m for m in got["metadata"]["managedFields"] if m["manager"] == FIELD_MANAGER]
    assert ours and all(set(m["fieldsV1"]["f:metadata"]) == {"f:labels"} for m in ours)


# ---------------------------------------------------------------------------------------------------------------
# Admission policies, for real


def _no_owner(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("ownerReferences", None)
    return out


@pytest.fixture(scope="module")
def policies(cluster: Cluster, world: World) -> Iterator[dict[str, dict[str, Any]]]:
    """Our VAPs and bindings, renamed `<name>-e2e-<suffix>`, applied for real; by original name."""
    originals = [o for p in world.plans.values() for o in p.objects if o["kind"].startswith("ValidatingAdmission")]
    renamed: dict[str, dict[str, Any]] = {}
    applied = []
    for obj in originals:
        new = _no_owner(obj)
        new["metadata"]["name"] = f"{obj['metadata']['name']}-e2e-{world.suffix}"
        if obj["kind"] == "ValidatingAdmissionPolicyBinding":
            new["spec"]["policyName"] = f"{obj['spec']['policyName']}-e2e-{world.suffix}"
        else:
            renamed[obj["metadata"]["name"]] = new
        applied.append(new)
    try:
        _apply(cluster, applied)
        yield renamed
    finally:
        for obj in reversed(applied):
            kind = (
                "validatingadmissionpolicybinding" if obj["kind"].endswith("Binding") else "validatingadmissionpolicy"
            )
            cluster.kubectl("delete", kind, obj["metadata"]["name"], "--ignore-not-found", check=False)


def test_policies_type_check_without_warnings(cluster: Cluster, policies: dict[str, dict[str, Any]]) -> None:
    assert set(policies) == {dra.ADMIN_POLICY, dra.ADMIN_POLICY_TEMPLATES, "aiconform-require-seccomp"}
    for obj in policies.values():
        name = obj["metadata"]["name"]

        def checked(name: str = name) -> dict[str, Any] | None:
            status = cluster.get_json("validatingadmissionpolicy", name).get("status") or {}
            return status if status.get("observedGeneration") and "typeChecking" in status else None

        status = cluster.wait_for(f"type checking of {name}", checked, timeout=30)
        assert not status["typeChecking"].get("expressionWarnings"), json.dumps(status, indent=1)


def _create_dry_run(cluster: Cluster, doc: dict[str, Any]) -> Any:
    return cluster.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc), check=False)


def _pod(namespace: str, seccomp: str | None, container_seccomp: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": PAUSE}
    if container_seccomp:
        container["securityContext"] = {"seccompProfile": {"type": container_seccomp}}
    spec: dict[str, Any] = {"containers": [container]}
    if seccomp:
        spec["securityContext"] = {"seccompProfile": {"type": seccomp}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "seccomp-", "namespace": namespace},
        "spec": spec,
    }


def test_seccomp_policy_denies_pods_without_runtime_default(
    cluster: Cluster, world: World, policies: dict[str, dict[str, Any]]
) -> None:
    ns = world.tenants[1]  # no Pod Security labels there: only our policy speaks
    denied = cluster.wait_for(
        "seccomp policy in force",
        lambda: (out := _create_dry_run(cluster, _pod(ns, None))).returncode != 0 and out,
        timeout=30,
        interval=0.5,
    )
    assert "seccompProfile" in denied.stderr and "main" in denied.stderr
    assert _create_dry_run(cluster, _pod(ns, "RuntimeDefault")).returncode == 0
    overridden = _create_dry_run(cluster, _pod(ns, "RuntimeDefault", container_seccomp="Unconfined"))
    assert overridden.returncode != 0
    # Outside the tenants the policy does not apply.
    assert _create_dry_run(cluster, _pod("default", None)).returncode == 0


def _claim(namespace: str, admin: bool) -> dict[str, Any]:
    exactly: dict[str, Any] = {"deviceClassName": "gpu.nvidia.com"}
    if admin:
        exactly["adminAccess"] = True
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"generateName": "claim-", "namespace": namespace},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": exactly}]}},
    }


def _claim_template(namespace: str, admin: bool) -> dict[str, Any]:
    claim = _claim(namespace, admin)
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"generateName": "claim-template-", "namespace": namespace},
        "spec": {"spec": claim["spec"]},
    }


def test_dra_policies_deny_admin_access_in_tenants(
    cluster: Cluster, world: World, policies: dict[str, dict[str, Any]]
) -> None:
    ns = world.tenants[0]
    # The API server lets adminAccess through only in namespaces labelled for it; label ours, so only our policy
    # can be what denies.
    cluster.kubectl("label", "namespace", ns, "resource.kubernetes.io/admin-access=true", "--overwrite")
    builders: tuple[Callable[[str, bool], dict[str, Any]], ...] = (_claim, _claim_template)
    for build in builders:

        def denied_by_us(build: Callable[[str, bool], dict[str, Any]] = build) -> Any:
            out = _create_dry_run(cluster, build(ns, True))
            return out.returncode != 0 and "adminAccess" in out.stderr and out

        denied = cluster.wait_for(f"adminAccess policy on {build.__name__} in force", denied_by_us, timeout=30)
        assert "not allowed in tenant namespaces" in denied.stderr
        assert _create_dry_run(cluster, build(ns, False)).returncode == 0
