"""Brownfield (issue 15): what the platform already provides is verified and reported, never duplicated or fought
— the NVIDIA DRA driver's DeviceClasses, the GPU Operator's DCGM exporter, an adopted Kueue ClusterQueue — and
component states tell the truth (Blocked on a missing prerequisite, Provided for the platform's, never a quiet
Ready)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from compbuilders import (
    ALL_CRDS,
    KUEUE_CRDS,
    REF,
    assert_golden,
    enabled,
    h100_only,
    names,
    ours,
    owned,
    profile,
    snap,
    tenant,
    two_tenants,
)

from aiconform.components import Blocked, Plan, Provided, dcgm_exporter, dra, kueue
from aiconform.components._common import make_plan
from aiconform.kube.snapshot import Snapshot
from aiconform.operator.reconciler import _state

Obj = dict[str, Any]
HELM = {"app.kubernetes.io/managed-by": "Helm"}
HELM_RELEASE = {"meta.helm.sh/release-name": "nvidia-dra-driver-gpu", "meta.helm.sh/release-namespace": "nvidia-dra"}


# ---------------------------------------------------------------------------------------------------------------
# DRA: the driver's DeviceClasses


def driver_class(class_name: str, expression: str) -> Obj:
    """A DeviceClass as the NVIDIA DRA driver's Helm chart installs it."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": class_name, "labels": dict(HELM), "annotations": dict(HELM_RELEASE)},
        "spec": {"selectors": [{"cel": {"expression": expression}}]},
    }


GPU_CEL = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"
MIG_CEL = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'"
DRA_ON = profile(components=enabled("dra"))


def with_classes(snapshot: Snapshot, *classes: Obj) -> Snapshot:
    return replace(snapshot, device_classes=tuple(classes))


def test_golden_driver_classes_are_provided_and_only_the_policy_is_made() -> None:
    s = with_classes(two_tenants(), driver_class("gpu.nvidia.com", GPU_CEL), driver_class("mig.nvidia.com", MIG_CEL))
    plan = dra.plan(DRA_ON, s, REF)
    assert "DeviceClass" not in {o["kind"] for o in plan.objects}
    assert {o["kind"] for o in plan.objects} == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert plan.blocked is None
    assert len(plan.provided) == 2 and all("Helm release nvidia-dra/nvidia-dra-driver-gpu" in p for p in plan.provided)
    assert "selects 24 of 24 gpu devices of driver gpu.nvidia.com" in plan.provided[0]
    assert_golden("dra-provided-by-driver", plan)


def test_only_the_missing_class_is_made() -> None:
    plan = dra.plan(DRA_ON, with_classes(two_tenants(), driver_class("gpu.nvidia.com", GPU_CEL)), REF)
    assert names(plan, "DeviceClass") == ["mig.nvidia.com"]
    assert [p.split(" ")[0] for p in plan.provided] == ["DeviceClass/gpu.nvidia.com"]


def test_a_class_of_ours_is_kept_as_ours() -> None:
    mine = owned({"kind": "DeviceClass", "metadata": {"name": "gpu.nvidia.com", "labels": ours("dra")}})
    plan = dra.plan(DRA_ON, with_classes(snap(pools=h100_only()), mine), REF)
    assert names(plan, "DeviceClass") == ["gpu.nvidia.com"] and plan.provided == ()


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("device.driver == 'gpu.example.com'", "it selects none of the 24 gpu devices of driver gpu.nvidia.com"),
        (MIG_CEL, "it selects none of the 24 gpu devices"),  # the MIG selector under the GPU class's name
    ],
)
def test_an_incompatible_class_stays_a_named_conflict(expression: str, why: str) -> None:
    plan = dra.plan(DRA_ON, with_classes(two_tenants(), driver_class("gpu.nvidia.com", expression)), REF)
    # Ours stays in the plan: the applier reports the name clash as Conflict; the note says why.
    assert "gpu.nvidia.com" in names(plan, "DeviceClass")
    assert any(n.startswith("DeviceClass/gpu.nvidia.com (Helm release") and why in n for n in plan.notes)
    assert not [p for p in plan.provided if "gpu.nvidia.com " in p]


def test_a_class_selecting_another_drivers_devices_is_incompatible() -> None:
    s = two_tenants()
    other = [
        {**rs, "spec": {**rs["spec"], "driver": "gpu.example.com"}, "metadata": {"name": f"x-{i}"}}
        for i, rs in enumerate(s.resource_slices)
    ]
    s = replace(s, resource_slices=(*s.resource_slices, *other))
    plan = dra.plan(
        DRA_ON,
        with_classes(
            s, driver_class("gpu.nvidia.com", "device.driver == 'gpu.example.com' || device.driver == 'gpu.nvidia.com'")
        ),
        REF,
    )
    assert any("incompatible: it selects" in n and "of driver gpu.example.com" in n for n in plan.notes)


def test_a_class_nothing_can_verify_yet_is_not_a_conflict_but_blocked() -> None:
    s = with_classes(snap(pools=h100_only(), slices=False), driver_class("gpu.nvidia.com", GPU_CEL))
    plan = dra.plan(DRA_ON, s, REF)
    assert "DeviceClass" not in {o["kind"] for o in plan.objects}
    assert plan.blocked and "no ResourceSlice publishes gpu devices of driver gpu.nvidia.com yet" in plan.blocked


def test_dra_not_served_is_blocked() -> None:
    plan = dra.plan(DRA_ON, snap(api_resources=frozenset({"v1/namespaces"})), REF)
    assert plan.objects == () and plan.blocked and "not served" in plan.blocked


# ---------------------------------------------------------------------------------------------------------------
# DCGM exporter: the GPU Operator's


GPU_NODES = ("kwok-h100-0000", "kwok-h100-0001", "kwok-a100-0000", "kwok-a100-0001")


def operator_exporter(
    env: list[Obj] | None = None, volumes: list[Obj] | None = None, mounts: list[Obj] | None = None
) -> Obj:
    """The GPU Operator's DaemonSet as it renders assets/state-dcgm-exporter/0900_daemonset.yaml."""
    container = {
        "name": "nvidia-dcgm-exporter",
        "image": "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
        "env": env
        if env is not None
        else [
            {"name": "DCGM_EXPORTER_LISTEN", "value": ":9400"},
            {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
            {"name": "DCGM_EXPORTER_COLLECTORS", "value": "/etc/dcgm-exporter/dcp-metrics-included.csv"},
        ],
        "volumeMounts": mounts or [],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "nvidia-dcgm-exporter",
            "namespace": "gpu-operator",
            "labels": {"app": "nvidia-dcgm-exporter"},
            "ownerReferences": [{"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "name": "cluster-policy"}],
        },
        "spec": {
            "selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}},
            "template": {
                "metadata": {"labels": {"app": "nvidia-dcgm-exporter"}},
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.deploy.dcgm-exporter": "true"},
                    "containers": [container],
                    "volumes": volumes or [],
                },
            },
        },
    }


def exporter_pod(node: str, ds: str = "nvidia-dcgm-exporter", ns: str = "gpu-operator") -> Obj:
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"{ds}-{node}",
            "namespace": ns,
            "labels": {"app": ds},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds}],
        },
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


def cluster_policy(enabled_: bool | None = True) -> Obj:
    dcgm: Obj = {"config": {"name": ""}} if enabled_ is None else {"enabled": enabled_, "config": {"name": ""}}
    return {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "cluster-policy"},
        "spec": {"dcgmExporter": dcgm},
    }


def gpu_operator(
    ds: Obj | None = None, nodes: tuple[str, ...] = GPU_NODES, policy: Obj | None = None, **more: Any
) -> Snapshot:
    base = snap(crds=(*ALL_CRDS, "clusterpolicies.nvidia.com"), **more)
    custom = {**base.custom, "clusterpolicies.nvidia.com": (policy or cluster_policy(),)}
    return replace(
        base,
        daemonsets=(ds or operator_exporter(),),
        pods=tuple(exporter_pod(n) for n in nodes),
        custom=custom,
    )


def dcgm_on(*collectors: str) -> Any:
    return profile(components=enabled(dcgmExporter={"collectors": list(collectors)}))


def test_golden_gpu_operator_exporter_is_provided_and_none_deployed() -> None:
    plan = dcgm_exporter.plan(dcgm_on("xid", "nvlink"), gpu_operator(), REF)
    assert plan.objects == () and plan.field_patches == () and plan.blocked is None
    assert plan.provided == (
        "DCGM exporter provided by the platform: DaemonSet gpu-operator/nvidia-dcgm-exporter (GPU Operator, "
        "ClusterPolicy cluster-policy): xid, nvlink collected (dcp-metrics-included.csv); running on all 4 "
        "accelerator nodes",
    )
    assert_golden("dcgmExporter-provided-by-gpu-operator", plan)


def test_a_collector_the_platform_lacks_is_blocked_with_the_clusterpolicy_field() -> None:
    plan = dcgm_exporter.plan(dcgm_on("xid", "nvlink", "ecc"), gpu_operator(), REF)
    assert plan.objects == ()
    assert plan.blocked is not None
    assert "does not collect ecc" in plan.blocked
    assert "set ClusterPolicy cluster-policy spec.dcgmExporter.config.name" in plan.blocked
    assert "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL" in plan.blocked


def test_default_counters_when_nothing_is_set() -> None:
    plan = dcgm_exporter.plan(dcgm_on("profiling"), gpu_operator(operator_exporter(env=[])), REF)
    assert plan.blocked and "default-counters.csv" in plan.blocked and "does not collect profiling" in plan.blocked


def test_a_custom_configmap_is_named_not_guessed() -> None:
    ds = operator_exporter(
        env=[{"name": "DCGM_EXPORTER_COLLECTORS", "value": "/etc/dcgm-exporter/dcgm-metrics.csv"}],
        volumes=[{"name": "dcgm-exporter-metrics", "configMap": {"name": "custom-dcgm-metrics"}}],
        mounts=[
            {
                "name": "dcgm-exporter-metrics",
                "mountPath": "/etc/dcgm-exporter/dcgm-metrics.csv",
                "subPath": "dcgm-metrics.csv",
            }
        ],
    )
    plan = dcgm_exporter.plan(dcgm_on("ecc"), gpu_operator(ds), REF)
    assert plan.objects == () and plan.blocked is None and plan.provided
    assert any("ConfigMap gpu-operator/custom-dcgm-metrics" in n and "not verified" in n for n in plan.notes)


def test_nodes_without_an_exporter_pod_are_blocked() -> None:
    plan = dcgm_exporter.plan(dcgm_on("xid"), gpu_operator(nodes=GPU_NODES[:2]), REF)
    assert plan.objects == ()
    assert (
        plan.blocked
        and "no running exporter pod on 2 of 4 accelerator nodes: kwok-a100-0000, kwok-a100-0001" in plan.blocked
    )
    assert "nvidia.com/gpu.deploy.dcgm-exporter=true" in plan.blocked


def test_any_daemonset_running_the_image_counts() -> None:
    ds = operator_exporter()
    ds["metadata"] = {"name": "dcgm", "namespace": "monitoring"}
    s = replace(gpu_operator(ds), pods=tuple(exporter_pod(n, "dcgm", "monitoring") for n in GPU_NODES), custom={})
    plan = dcgm_exporter.plan(dcgm_on("xid"), s, REF)
    assert (
        plan.objects == ()
        and plan.provided
        and plan.provided[0].startswith("DCGM exporter provided by the platform: DaemonSet monitoring/dcgm:")
    )


def test_a_clusterpolicy_before_its_daemonset_is_blocked_not_duplicated() -> None:
    s = replace(gpu_operator(), daemonsets=(), pods=())
    plan = dcgm_exporter.plan(dcgm_on("xid"), s, REF)
    assert plan.objects == () and plan.blocked and "not deploying a second one" in plan.blocked


def test_without_the_gpu_operator_ours_is_deployed() -> None:
    # A ClusterPolicy with the exporter disabled, no exporter DaemonSet: ours.
    s = replace(gpu_operator(policy=cluster_policy(False)), daemonsets=(), pods=())
    plan = dcgm_exporter.plan(dcgm_on("xid"), s, REF)
    assert "DaemonSet" in {o["kind"] for o in plan.objects} and plan.provided == () and plan.blocked is None
    # Our own DaemonSet is never taken for the platform's.
    mine = owned(dcgm_exporter.daemonset(dcgm_on("xid"), REF))
    again = dcgm_exporter.plan(dcgm_on("xid"), replace(s, daemonsets=(mine,)), REF)
    assert "DaemonSet" in {o["kind"] for o in again.objects}


def test_our_exporter_without_accelerator_nodes_is_blocked() -> None:
    plan = dcgm_exporter.plan(dcgm_on("xid"), snap(pools=[]), REF)
    assert plan.objects and plan.blocked and "no accelerator node" in plan.blocked


# ---------------------------------------------------------------------------------------------------------------
# Kueue: an existing ClusterQueue adopted by reference


def platform_queue(flavors: dict[str, str], selector: Obj | None = None, active: str = "True") -> Obj:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "platform-gpu"},
        "spec": {
            "namespaceSelector": {} if selector is None else selector,
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": f,
                            "resources": [
                                {"name": "cpu", "nominalQuota": "64"},
                                {"name": "nvidia.com/gpu", "nominalQuota": q},
                            ],
                        }
                        for f, q in flavors.items()
                    ],
                }
            ],
        },
        "status": {
            "conditions": [
                {"type": "Active", "status": active, "reason": "Ready" if active == "True" else "FlavorNotFound"}
            ]
        },
    }


def flavor(flavor_name: str, product: str) -> Obj:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ResourceFlavor",
        "metadata": {"name": flavor_name},
        "spec": {"nodeLabels": {"nvidia.com/gpu.product": product}},
    }


FLAVORS = (flavor("h100", "NVIDIA-H100-80GB-HBM3"), flavor("a100", "NVIDIA-A100-SXM4-80GB"))
ADOPT = profile(components=enabled(kueue={"existingClusterQueue": "platform-gpu"}))


def adopted(cq: Obj, flavors: tuple[Obj, ...] = FLAVORS) -> Snapshot:
    return two_tenants(custom={"clusterqueues.kueue.x-k8s.io": [cq], "resourceflavors.kueue.x-k8s.io": list(flavors)})


def test_golden_adopted_queue_gets_only_local_queues() -> None:
    plan = kueue.plan(ADOPT, adopted(platform_queue({"h100": "16", "a100": "8"})), REF)
    assert names(plan) == ["team-a/default", "team-b/default"]
    assert {o["spec"]["clusterQueue"] for o in plan.objects} == {"platform-gpu"}
    assert plan.blocked is None
    assert plan.provided == (
        "ClusterQueue platform-gpu provided by the platform (spec.components.kueue.existingClusterQueue): covers "
        "nvidia.com/gpu on nvidia-a100-sxm4-80gb via a100, nvidia-h100-80gb-hbm3 via h100; admits 2 of 2 tenant "
        "namespaces",
    )
    assert_golden("kueue-existing-queue", plan)


def test_adopted_queue_missing_a_pool_or_a_tenant_or_inactive_is_blocked() -> None:
    cq = platform_queue({"h100": "16", "a100": "0"}, {"matchLabels": {"team": "a"}}, active="False")
    s = two_tenants(custom={"clusterqueues.kueue.x-k8s.io": [cq], "resourceflavors.kueue.x-k8s.io": list(FLAVORS)})
    s = replace(s, namespaces=(*s.namespaces[:2], tenant("team-a", team="a"), tenant("team-b")))
    plan = kueue.plan(ADOPT, s, REF)
    assert plan.blocked is not None
    assert "does not cover the GPU pools nvidia-a100-sxm4-80gb" in plan.blocked
    assert "does not admit the tenant namespaces team-b" in plan.blocked
    assert "is not Active: FlavorNotFound" in plan.blocked


def test_adopted_queue_not_found_is_blocked() -> None:
    plan = kueue.plan(ADOPT, two_tenants(), REF)
    assert names(plan, "LocalQueue") == ["team-a/default", "team-b/default"]
    assert (
        plan.blocked
        and "ClusterQueue platform-gpu (spec.components.kueue.existingClusterQueue) not found" in plan.blocked
    )


def test_kueue_crds_absent_is_blocked() -> None:
    plan = kueue.plan(profile(components=enabled("kueue")), snap(crds=()), REF)
    assert plan.objects == () and plan.blocked and "CRDs not installed" in plan.blocked


def test_kueue_without_accelerator_nodes_is_blocked() -> None:
    plan = kueue.plan(profile(components=enabled("kueue")), snap(pools=[], crds=KUEUE_CRDS), REF)
    assert plan.blocked and "no accelerator node" in plan.blocked


# ---------------------------------------------------------------------------------------------------------------
# The state the reconciler reports from a plan's notes


def state(plan: Plan, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"enabled": True, "audit": False, "managed": 0, "pending": [], "conflicts": [], "errors": []}
    args.update(kw)
    return _state(
        "dra",
        args["enabled"],
        args["audit"],
        args["managed"],
        args["pending"],
        args["conflicts"],
        args["errors"],
        plan.notes,
    )


def test_states_tell_the_truth() -> None:
    assert state(make_plan(notes=["a plain note"]))["state"] == "Ready"
    assert state(make_plan(notes=["a plain note"]), audit=True)["state"] == "InSync"
    blocked = state(make_plan(blocked=["Kueue CRDs not installed"], provided=["x"]))
    assert blocked == {"state": "Blocked", "message": "Kueue CRDs not installed; x", "managed": 0, "conflicts": []}
    assert state(make_plan(provided=["DeviceClass/gpu.nvidia.com provided"]), managed=4)["state"] == "Provided"
    assert state(make_plan(blocked=["b"]), errors=["boom"])["state"] == "Degraded"
    assert state(make_plan(blocked=["b"]), enabled=False)["state"] == "Disabled"
    assert isinstance(make_plan(blocked=["b"]).notes[0], Blocked)
    assert isinstance(make_plan(provided=["p"]).notes[0], Provided)
