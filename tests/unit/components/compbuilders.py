"""Snapshots and profiles for the component tests, and the golden-file assertion.

Imported by the test modules of this directory as `compbuilders` (pytest puts the directory on sys.path).
GPU nodes come from the dev cluster's fleet builder, so they are labelled exactly as the simulated cluster's.

Golden files: tests/unit/components/golden/<component>-<case>.yaml hold a whole Plan rendered with
yaml.safe_dump(sort_keys=True). A test fails on any difference; regenerate after an intended change with
`AICONFORM_UPDATE_GOLDEN=1 pytest tests/unit/components` and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aiconform.api.models import ProfileSpec
from aiconform.components import Blocked, Plan, ProfileRef, Provided, owner_reference
from aiconform.devtools.devcluster.fleet import MigProfile, Pool, default_pools, fleet_objects
from aiconform.kube.kinds import managed_kind
from aiconform.kube.snapshot import Snapshot

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AICONFORM_UPDATE_GOLDEN") == "1"
REF = ProfileRef("production", "0b5c3f1e-6d1a-4f5e-9c1a-2f0e8a7d4b11")
TENANT = {"aiconform.io/tenant": "true"}
INFERENCE = {"aiconform.io/inference": "true"}
COMPONENT_NAMES = ("dra", "kueue", "keda", "dcgmExporter", "quotas", "networkPolicies", "seccomp")

KUEUE_CRDS = tuple(f"{p}.kueue.x-k8s.io" for p in ("clusterqueues", "localqueues", "resourceflavors", "workloads"))
KEDA_CRDS = ("scaledobjects.keda.sh", "scaledjobs.keda.sh")
SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com"
ALL_CRDS = (*KUEUE_CRDS, *KEDA_CRDS, SERVICE_MONITOR_CRD)

Obj = dict[str, Any]


def served(*group_version_plurals: str) -> frozenset[str]:
    return frozenset(group_version_plurals)


# What the dev cluster serves, as far as the components look.
API_RESOURCES = served(
    "v1/namespaces",
    "v1/nodes",
    "apps/v1/deployments",
    "autoscaling/v2/horizontalpodautoscalers",
    "resource.k8s.io/v1/deviceclasses",
    "resource.k8s.io/v1/resourceclaims",
    "resource.k8s.io/v1/resourceclaimtemplates",
    "resource.k8s.io/v1/resourceslices",
    "kueue.x-k8s.io/v1beta2/clusterqueues",
    "kueue.x-k8s.io/v1beta2/localqueues",
    "kueue.x-k8s.io/v1beta2/resourceflavors",
    "keda.sh/v1alpha1/scaledobjects",
    "monitoring.coreos.com/v1/servicemonitors",
)


# ---------------------------------------------------------------------------------------------------------------
# Objects


def profile(**spec: Any) -> ProfileSpec:
    """A ProfileSpec from camelCase keyword arguments, as a user would write it."""
    return ProfileSpec.model_validate(spec)


def enabled(*components: str, **blocks: Mapping[str, Any]) -> dict[str, Any]:
    """`components:` with the named components enabled, extra settings per component in `blocks`."""
    out: dict[str, Any] = {c: {"enabled": True} for c in components}
    for component, block in blocks.items():
        out[component] = {"enabled": True, **block}
    return out


def crd(name: str, established: bool = True) -> Obj:
    return {
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]},
    }


def namespace(name: str, labels: Mapping[str, str] | None = None, terminating: bool = False) -> Obj:
    out: Obj = {"kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
    out["status"] = {"phase": "Terminating" if terminating else "Active"}
    return out


def tenant(name: str, **labels: str) -> Obj:
    return namespace(name, {**TENANT, **labels})


def deployment(ns: str, name: str, labels: Mapping[str, str] | None = None, deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"kind": "Deployment", "metadata": meta, "spec": {"replicas": 1}}


def hpa(ns: str, name: str, target: str, owner_kind: str | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": ns}
    if owner_kind:
        meta["ownerReferences"] = [{"apiVersion": "keda.sh/v1alpha1", "kind": owner_kind, "name": target}]
    return {
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}},
    }


def scaled_object(ns: str, name: str, target: str, labels: Mapping[str, str] | None = None) -> Obj:
    return {
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
        "spec": {"scaleTargetRef": {"name": target}},
    }


def ours(component: str, profile_name: str = REF.name) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "aiconform",
        "aiconform.io/profile": profile_name,
        "app.kubernetes.io/component": component,
    }


def owned(obj: Obj, ref: ProfileRef = REF) -> Obj:
    """`obj` as the profile `ref` made it: the owner reference our create sets (labels alone never make an object
    ours), at the apiVersion the registry writes it."""
    meta = {**obj["metadata"], "ownerReferences": [owner_reference(ref)]}
    return {"apiVersion": managed_kind(obj["kind"]).api_version, **obj, "metadata": meta}


def fleet(pools: Sequence[Pool] | None = None) -> tuple[list[Obj], list[Obj]]:
    """(nodes, resource slices) of the dev cluster's fleet: 2 H100 nodes, 2 A100 nodes with MIG, 2 CPU nodes."""
    return fleet_objects(list(pools if pools is not None else default_pools()))


def h100_only(count: int = 2) -> list[Pool]:
    return [p for p in default_pools(h100=count, a100=0, cpu=1) if p.count]


def mig_pool() -> Pool:
    return Pool(
        "a100",
        1,
        product="NVIDIA-A100-SXM4-80GB",
        gpus=8,
        mig=MigProfile("1g.10gb", gpus=4, slices_per_gpu=7, memory="10Gi"),
    )


def snap(
    *,
    pools: Sequence[Pool] | None = None,
    namespaces: Iterable[Obj] = (),
    deployments: Iterable[Obj] = (),
    hpas: Iterable[Obj] = (),
    crds: Iterable[str] = ALL_CRDS,
    custom: Mapping[str, Iterable[Obj]] | None = None,
    api_resources: frozenset[str] = API_RESOURCES,
    slices: bool = True,
) -> Snapshot:
    """A snapshot of the dev fleet (or `pools`) with the given namespaces and workloads. `custom` defaults to
    an empty list for every installed CRD, as the collector gives it."""
    nodes, resource_slices = fleet(pools)
    crd_objs = [crd(n) for n in crds]
    listed: dict[str, tuple[Obj, ...]] = {n: () for n in crds}
    listed.update({k: tuple(v) for k, v in (custom or {}).items()})
    return Snapshot(
        server_version="v1.37.2",
        api_resources=api_resources,
        namespaces=(namespace("kube-system"), namespace("default"), *namespaces),
        nodes=tuple(nodes),
        crds=tuple(crd_objs),
        resource_slices=tuple(resource_slices) if slices else (),
        deployments=tuple(deployments),
        hpas=tuple(hpas),
        custom=listed,
    )


def two_tenants(**more: Any) -> Snapshot:
    """The fleet with tenants team-a and team-b and a non-tenant namespace `other`."""
    return snap(namespaces=[tenant("team-a"), tenant("team-b"), namespace("other")], **more)


# ---------------------------------------------------------------------------------------------------------------
# Golden files


def render(plan: Plan) -> str:
    kinds = (Blocked, Provided)
    doc: dict[str, Any] = {
        "objects": list(plan.objects),
        "field_patches": list(plan.field_patches),
        "notes": [str(n) for n in plan.notes if not isinstance(n, kinds)],
        "skipped": list(plan.skipped),
    }
    # What sets the component's state, written only when there is some (the other golden files stay as they were).
    for key, kind in (("blocked", Blocked), ("provided", Provided)):
        found = [str(n) for n in plan.notes if isinstance(n, kind)]
        if found:
            doc[key] = found
    return yaml.safe_dump(doc, sort_keys=True, width=120)


def assert_golden(name: str, plan: Plan) -> None:
    """The plan rendered equals golden/<name>.yaml (written instead when AICONFORM_UPDATE_GOLDEN=1)."""
    path = GOLDEN / f"{name}.yaml"
    text = render(plan)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} missing: run with AICONFORM_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text()
    assert text == expected, (
        f"{path.name} differs from the plan; if intended, regenerate with AICONFORM_UPDATE_GOLDEN=1"
    )


def all_objects(plans: Mapping[str, Plan]) -> list[Obj]:
    return [o for p in plans.values() for o in p.objects]


def names(plan: Plan, kind: str | None = None) -> list[str]:
    """`namespace/name` (or `name`) of the plan's objects of `kind`, in plan order."""
    out = []
    for o in plan.objects:
        if kind is None or o["kind"] == kind:
            m = o["metadata"]
            out.append(f"{m['namespace']}/{m['name']}" if "namespace" in m else m["name"])
    return out
