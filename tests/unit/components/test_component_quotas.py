"""Quotas component: a ResourceQuota per tenant capping the accelerator resource and DRA devices per class."""

from __future__ import annotations

from compbuilders import REF, assert_golden, enabled, h100_only, profile, snap, tenant, two_tenants

from aiconform.components import Plan, quotas


def _hard(plan: Plan) -> list[tuple[str, dict[str, str]]]:
    return [(o["metadata"]["namespace"], o["spec"]["hard"]) for o in plan.objects]


def test_golden_default() -> None:
    plan = quotas.plan(profile(components=enabled(quotas={"gpusPerTenant": 8})), two_tenants(), REF)
    assert _hard(plan) == [("team-a", {"requests.nvidia.com/gpu": "8"}), ("team-b", {"requests.nvidia.com/gpu": "8"})]
    assert_golden("quotas-default", plan)


def test_golden_dra_devices_per_class() -> None:
    spec = profile(components=enabled("dra", quotas={"draDevicesPerTenant": 2}))
    plan = quotas.plan(spec, two_tenants(), REF)
    assert _hard(plan)[0][1] == {
        "gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "2",
        "mig.nvidia.com.deviceclass.resource.k8s.io/devices": "2",
        "requests.nvidia.com/gpu": "4",
    }
    assert_golden("quotas-dra", plan)


def test_dra_classes_follow_the_cluster() -> None:
    spec = profile(components=enabled("dra", quotas={"draDevicesPerTenant": 1}))
    plan = quotas.plan(spec, snap(pools=h100_only(), namespaces=[tenant("a")]), REF)
    assert sorted(_hard(plan)[0][1]) == [
        "gpu.nvidia.com.deviceclass.resource.k8s.io/devices",
        "requests.nvidia.com/gpu",
    ]


def test_dra_not_served_keeps_the_gpu_limit_and_says_so() -> None:
    spec = profile(
        accelerators={"resourceName": "amd.com/gpu"}, components=enabled("dra", quotas={"draDevicesPerTenant": 1})
    )
    plan = quotas.plan(spec, two_tenants(api_resources=frozenset({"v1/nodes"})), REF)
    assert _hard(plan)[0][1] == {"requests.amd.com/gpu": "4"}
    assert "draDevicesPerTenant has no effect" in plan.notes[0]
