"""DCGM exporter component: privileged namespace, ServiceAccount, collectors ConfigMap, DaemonSet, Service,
ServiceMonitor when its CRD exists."""

from __future__ import annotations

from compbuilders import (
    ALL_CRDS,
    REF,
    SERVICE_MONITOR_CRD,
    assert_golden,
    enabled,
    namespace,
    ours,
    owned,
    profile,
    snap,
)

from aiconform.components import Plan, dcgm_exporter

ON = profile(components=enabled("dcgmExporter"))


def _kinds(plan: Plan) -> list[str]:
    return [o["kind"] for o in plan.objects]


def test_golden_default() -> None:
    plan = dcgm_exporter.plan(ON, snap(), REF)
    assert _kinds(plan) == ["Namespace", "ServiceAccount", "ConfigMap", "Service", "DaemonSet", "ServiceMonitor"]
    assert plan.notes == () and plan.field_patches == ()
    assert_golden("dcgmExporter-default", plan)


def test_golden_all_collectors_custom_scheduling() -> None:
    spec = profile(
        components=enabled(
            dcgmExporter={
                "namespace": "gpu-metrics",
                "image": "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
                "collectors": ["clocks", "xid", "nvlink", "profiling", "ecc", "power"],
                "port": 9500,
                "nodeSelector": {"node.kubernetes.io/instance-type": "p5.48xlarge"},
                "tolerations": [{"operator": "Exists"}],
            }
        )
    )
    plan = dcgm_exporter.plan(spec, snap(), REF)
    assert_golden("dcgmExporter-custom", plan)


def test_golden_without_service_monitor_crd() -> None:
    plan = dcgm_exporter.plan(ON, snap(crds=[c for c in ALL_CRDS if c != SERVICE_MONITOR_CRD]), REF)
    assert "ServiceMonitor" not in _kinds(plan)
    assert plan.skipped == ("ServiceMonitor/aiconform-dcgm/dcgm-exporter",)
    assert_golden("dcgmExporter-no-servicemonitor", plan)


def test_selector_expressions_become_node_affinity() -> None:
    spec = profile(
        accelerators={
            "nodeSelector": {
                "matchLabels": {"nvidia.com/gpu.present": "true"},
                "matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["Tesla-T4"]}],
            }
        },
        components=enabled("dcgmExporter"),
    )
    ds = next(o for o in dcgm_exporter.plan(spec, snap(), REF).objects if o["kind"] == "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["Tesla-T4"]}]}
    ]


def test_csv_has_base_counters_and_chosen_groups_only() -> None:
    csv = dcgm_exporter.counters_csv(["xid"])
    fields = [line.split(",")[0] for line in csv.splitlines() if line and not line.startswith("#")]
    assert fields[:2] == ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL"]
    assert "DCGM_FI_DEV_XID_ERRORS" in fields and "DCGM_FI_DEV_FB_USED" in fields
    assert not [f for f in fields if "NVLINK" in f or "PROF" in f]
    assert all(len(line.split(", ")) == 3 for line in csv.splitlines() if line and not line.startswith("#"))


def test_foreign_namespace_is_only_labelled_ours_is_kept() -> None:
    foreign = dcgm_exporter.plan(ON, snap(namespaces=[namespace("aiconform-dcgm", {"team": "sre"})]), REF)
    assert _kinds(foreign)[0] == "ServiceAccount"
    assert foreign.field_patches[0]["metadata"] == {
        "name": "aiconform-dcgm",
        "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
    }
    mine = dcgm_exporter.plan(ON, snap(namespaces=[owned(namespace("aiconform-dcgm", ours("dcgmExporter")))]), REF)
    assert _kinds(mine)[0] == "Namespace" and mine.field_patches == ()
