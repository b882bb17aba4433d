"""What the view (and `check`) keeps of an object, by its source's rule: everything checks read, equal to the
original where kept, smaller."""

from __future__ import annotations

import copy
from typing import Any

from aiconform.kube.sources import BY_KEY, Trim
from aiconform.kube.view import compact, trim

NODE = BY_KEY["nodes"].trim
POD = BY_KEY["pods"].trim
CRD = BY_KEY["customresourcedefinitions.apiextensions.k8s.io"].trim
DEPLOYMENT = BY_KEY["deployments.apps"].trim


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
    out = trim(_node(), NODE)
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
    assert trim(later, NODE) == trim(_node(), NODE)


def test_pod_keeps_phase_ip_and_conditions() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": "127.8.0.5", "containerStatuses": [{"name": "c"}], "hostIP": "x"},
    }
    out = trim(pod, POD)
    assert out["status"] == {"phase": "Running", "podIP": "127.8.0.5"} and out["spec"] == pod["spec"]


def test_crd_drops_schemas_keeps_versions_and_status() -> None:
    crd = {
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "x.example.com"},
        "spec": {"group": "example.com", "versions": [{"name": "v1", "served": True, "schema": {"big": 1}}]},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    out = trim(crd, CRD)
    assert out["spec"] == {"group": "example.com", "versions": [{"name": "v1", "served": True}]}
    assert out["status"] == crd["status"]


def test_compact_is_equal_and_shares_equal_leaves() -> None:
    devices = [{"name": f"gpu-{i}", "attributes": {"arch": {"string": "Ampere"}}} for i in range(3)]
    slice_ = {"kind": "ResourceSlice", "spec": {"devices": devices}}
    out = compact(copy.deepcopy(slice_), {})
    assert out == slice_
    leaves = [d["attributes"]["arch"] for d in out["spec"]["devices"]]
    assert leaves[0] is leaves[1] is leaves[2]
    attributes = [d["attributes"] for d in out["spec"]["devices"]]
    assert attributes[0] is attributes[1] is attributes[2]  # whole equal maps too, not only leaves


def test_compact_keeps_json_types_apart() -> None:
    """True == 1 == 1.0 in Python: sharing by equality alone would turn one into another."""
    body = {"a": {"v": True}, "b": {"v": 1}, "c": {"v": 1.0}, "d": [1, True], "e": [True, 1], "f": {"v": "1"}}
    out = compact(copy.deepcopy(body), {})
    assert out == body
    for key, value in body.items():
        inner = out[key]
        got, want = (list(inner.values()), list(value.values())) if isinstance(value, dict) else (inner, value)
        assert [type(v) for v in got] == [type(v) for v in want], key


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

    assert trim(dep("t1", 1), DEPLOYMENT)["status"] == {"availableReplicas": 1}
    assert trim(dep("t2", 2), DEPLOYMENT) == trim(dep("t1", 1), DEPLOYMENT)
    lost = dep("t3", 2)
    lost["status"]["availableReplicas"] = 0
    assert trim(lost, DEPLOYMENT) != trim(dep("t1", 1), DEPLOYMENT)  # what the checks read still shows


def test_namespaces_keep_our_label_entries_of_managed_fields_other_kinds_none() -> None:
    ours = {
        "manager": "aiconform-production",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": "2026-12-03T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:pod-security.kubernetes.io/enforce": {}}}},
    }
    kubectl = {
        "manager": "kubectl-create",
        "operation": "Update",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}},
    }
    foreign_apply = {"manager": "argocd-controller", "operation": "Apply", "fieldsV1": ours["fieldsV1"]}
    our_update = {"manager": "aiconform-production", "operation": "Update", "fieldsV1": ours["fieldsV1"]}
    no_labels = {"manager": "aiconform-other", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
    body = {
        "metadata": {
            "name": "t",
            "managedFields": [kubectl, ours, foreign_apply, our_update, no_labels, "junk"],
            "resourceVersion": "5",
        }
    }
    assert trim(body, BY_KEY["namespaces"].trim)["metadata"] == {
        "name": "t",
        "managedFields": [
            {
                "manager": "aiconform-production",
                "operation": "Apply",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:pod-security.kubernetes.io/enforce": {}}}},
            }
        ],
    }
    only_theirs = {"metadata": {"name": "u", "managedFields": [kubectl, foreign_apply]}}
    assert trim(only_theirs, BY_KEY["namespaces"].trim)["metadata"] == {"name": "u"}
    assert trim(body, Trim())["metadata"] == {"name": "t"}


def test_kept_status_of_a_kind_without_a_rule_is_whole() -> None:
    ds = {"metadata": {"name": "d"}, "status": {"numberReady": 1, "conditions": [{"lastHeartbeatTime": "t"}]}}
    assert trim(ds, BY_KEY["daemonsets.apps"].trim)["status"] == ds["status"]
