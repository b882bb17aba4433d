"""Kueue component: ResourceFlavors per GPU pool, the ClusterQueue's quotas, LocalQueues per tenant."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from compbuilders import (
    REF,
    assert_golden,
    enabled,
    namespace,
    profile,
    snap,
    tenant,
    two_tenants,
)

from aiconform.components import Plan, kueue
from aiconform.devtools.devcluster.fleet import Pool


def _cq(plan: Plan) -> dict[str, Any]:
    return next(o for o in plan.objects if o["kind"] == "ClusterQueue")


def _quotas(plan: Plan) -> dict[str, dict[str, str]]:
    flavors = _cq(plan)["spec"]["resourceGroups"][0]["flavors"]
    return {f["name"]: {r["name"]: r["nominalQuota"] for r in f["resources"]} for f in flavors}


def test_golden_auto_quota_from_pools() -> None:
    plan = kueue.plan(profile(components=enabled("kueue")), two_tenants(), REF)
    # 2 H100 nodes of 8 GPUs, 192 CPUs, 2Ti; 2 A100 nodes with 4 whole GPUs (4 more are MIG), 128 CPUs, 1Ti.
    assert _quotas(plan) == {
        "nvidia-a100-sxm4-80gb": {"cpu": "256", "memory": "2Ti", "nvidia.com/gpu": "8"},
        "nvidia-h100-80gb-hbm3": {"cpu": "384", "memory": "4Ti", "nvidia.com/gpu": "16"},
    }
    assert_golden("kueue-auto", plan)


def test_golden_explicit_quotas_split_by_capacity() -> None:
    spec = profile(
        components=enabled(
            kueue={
                "clusterQueue": "gpu",
                "localQueue": "jobs",
                "gpusPerFlavor": 4,
                "cpuQuota": "100",
                "memoryQuota": "600Gi",
            }
        )
    )
    plan = kueue.plan(spec, two_tenants(), REF)
    # CPU 256:384 → 40:60; memory 2Ti:4Ti → 200Gi:400Gi.
    assert _quotas(plan) == {
        "nvidia-a100-sxm4-80gb": {"cpu": "40", "memory": "200Gi", "nvidia.com/gpu": "4"},
        "nvidia-h100-80gb-hbm3": {"cpu": "60", "memory": "400Gi", "nvidia.com/gpu": "4"},
    }
    assert_golden("kueue-explicit", plan)


def test_golden_no_accelerator_nodes() -> None:
    plan = kueue.plan(profile(components=enabled("kueue")), snap(pools=[], namespaces=[tenant("team-a")]), REF)
    assert "resourceGroups" not in _cq(plan)["spec"]
    assert "no accelerator node" in plan.notes[0]
    assert_golden("kueue-no-gpu-nodes", plan)


def test_golden_nodes_without_product_label_form_one_pool() -> None:
    nodes_snap = snap(pools=[Pool("plain", 2, gpus=4, cpu="16", memory="64Gi")], namespaces=[tenant("team-a")])
    nodes = []
    for node in nodes_snap.nodes:
        labels = {k: v for k, v in node["metadata"]["labels"].items() if k != "nvidia.com/gpu.product"}
        nodes.append({**node, "metadata": {**node["metadata"], "labels": labels}})
    plan = kueue.plan(profile(components=enabled("kueue")), replace(nodes_snap, nodes=tuple(nodes)), REF)
    flavor = plan.objects[0]
    assert flavor["metadata"]["name"] == "nvidia-gpu"
    assert flavor["spec"]["nodeLabels"] == {"nvidia.com/gpu.present": "true"}
    assert _quotas(plan) == {"nvidia-gpu": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "8"}}
    assert_golden("kueue-unlabelled-pool", plan)


def test_cluster_queue_selects_tenants_and_local_queues_point_at_it() -> None:
    spec = profile(
        tenants={"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
        components=enabled(kueue={"clusterQueue": "shared"}),
    )
    s = snap(
        namespaces=[namespace("a", {"team": "x"}), namespace("b"), namespace("c", {"team": "y"}, terminating=True)]
    )
    plan = kueue.plan(spec, s, REF)
    assert _cq(plan)["spec"]["namespaceSelector"] == {"matchExpressions": [{"key": "team", "operator": "Exists"}]}
    local = [o for o in plan.objects if o["kind"] == "LocalQueue"]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]) for o in local] == [
        ("a", "default", {"clusterQueue": "shared"})
    ]


def test_flavor_names_are_dns_labels_and_distinct() -> None:
    pools = [
        Pool("x", 1, product="NVIDIA H100 80GB", gpus=1),
        Pool("y", 1, product="NVIDIA-H100-80GB", gpus=1),
        Pool("z", 1, product="Some_Very.Long-Product-Name-" + "X" * 60, gpus=1),
    ]
    got = [p.flavor for p in kueue.gpu_pools(profile(), snap(pools=pools))]
    assert len(set(got)) == 3
    assert all(len(f) <= 63 and f == f.lower() and f[0].isalnum() and f[-1].isalnum() for f in got)


def test_flavors_cover_resources_in_order_as_the_crd_demands() -> None:
    spec = profile(accelerators={"resourceName": "example.com/accel"}, components=enabled("kueue"))
    group = _cq(kueue.plan(spec, two_tenants(), REF))["spec"]["resourceGroups"][0]
    assert group["coveredResources"] == ["cpu", "memory", "example.com/accel"]
    for flavor in group["flavors"]:
        assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]


def test_crds_missing_makes_nothing() -> None:
    plan = kueue.plan(profile(components=enabled("kueue")), two_tenants(crds=()), REF)
    assert plan.objects == ()
    assert plan.notes[0].startswith("Kueue CRDs not installed")
    not_v1beta2 = two_tenants(api_resources=frozenset({"kueue.x-k8s.io/v1beta1/clusterqueues"}))
    assert "v1beta2 is not served" in kueue.plan(profile(components=enabled("kueue")), not_v1beta2, REF).notes[0]
