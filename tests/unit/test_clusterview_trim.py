"""What the view keeps of an object: everything checks read, equal to the original where kept, smaller."""

from __future__ import annotations

import copy
from typing import Any

from aiconform.kube.view import compact, trim


def _node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"nvidia.com/gpu.product": "H100"}, "managedFields": [{"manager": "x"}]},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {"nvidia.com/gpu": "8"},
            "capacity": {"nvidia.com/gpu": "8"},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "t1"},
            ],
            "images": [{"names": ["a" * 100], "sizeBytes": 1}],
            "nodeInfo": {"kubeletVersion": "v1.37.2"},
        },
    }


def test_node_keeps_capacity_and_conditions_without_heartbeats() -> None:
    out = trim(_node())
    assert out["status"] == {
        "allocatable": {"nvidia.com/gpu": "8"},
        "capacity": {"nvidia.com/gpu": "8"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
    }
    assert out["spec"] == _node()["spec"] and "managedFields" not in out["metadata"]


def test_a_heartbeat_alone_changes_nothing_in_the_view() -> None:
    later = _node()
    later["status"]["conditions"][0]["lastHeartbeatTime"] = "t2"
    later["metadata"]["resourceVersion"] = "1234"
    assert trim(later) == trim(_node())


def test_pod_keeps_phase_ip_and_conditions() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": "127.8.0.5", "containerStatuses": [{"name": "c"}], "hostIP": "x"},
    }
    out = trim(pod)
    assert out["status"] == {"phase": "Running", "podIP": "127.8.0.5"} and out["spec"] == pod["spec"]


def test_crd_drops_schemas_keeps_versions_and_status() -> None:
    crd = {
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "x.example.com"},
        "spec": {"group": "example.com", "versions": [{"name": "v1", "served": True, "schema": {"big": 1}}]},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    out = trim(crd)
    assert out["spec"] == {"group": "example.com", "versions": [{"name": "v1", "served": True}]}
    assert out["status"] == crd["status"]


def test_compact_is_equal_and_shares_equal_leaves() -> None:
    devices = [{"name": f"gpu-{i}", "attributes": {"arch": {"string": "Ampere"}}} for i in range(3)]
    slice_ = {"kind": "ResourceSlice", "spec": {"devices": devices}}
    out = compact(copy.deepcopy(slice_), {})
    assert out == slice_
    leaves = [d["attributes"]["arch"] for d in out["spec"]["devices"]]
    assert leaves[0] is leaves[1] is leaves[2]


def test_deployment_keeps_only_available_replicas_so_a_rollout_status_rewrite_changes_nothing() -> None:
    def dep(updated: str, observed: int) -> dict[str, Any]:
        return {
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "a"},
            "spec": {"replicas": 1},
            "status": {
                "availableReplicas": 1,
                "observedGeneration": observed,
                "replicas": 1,
                "conditions": [{"type": "Progressing", "status": "True", "lastUpdateTime": updated}],
            },
        }

    assert trim(dep("t1", 1))["status"] == {"availableReplicas": 1}
    assert trim(dep("t2", 2)) == trim(dep("t1", 1))
    lost = dep("t3", 2)
    lost["status"]["availableReplicas"] = 0
    assert trim(lost) != trim(dep("t1", 1))  # what the checks read still shows
