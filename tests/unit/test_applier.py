"""The applier's decisions: create what is missing, update only real drift, prune only ours, report clashes."""

from __future__ import annotations

from typing import Any

from aiconform.operator.applier import audit_summary, decide, is_subset, key_of

LABELS = {
    "app.kubernetes.io/managed-by": "aiconform",
    "aiconform.io/profile": "prod",
    "app.kubernetes.io/component": "quotas",
}


def quota(ns: str, gpus: str = "4", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "aiconform-gpu", "namespace": ns, "labels": dict(LABELS), **meta},
        "spec": {"hard": {"requests.nvidia.com/gpu": gpus}},
    }


def served(obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """As the API server returns it: bookkeeping and defaults added."""
    out = {
        **obj,
        "metadata": {
            **obj["metadata"],
            "uid": "u-" + obj["metadata"]["namespace"],
            "resourceVersion": "7",
            "managedFields": [],
        },
        "status": {"used": {}},
    }
    out["spec"] = {**obj["spec"], **extra}
    return out


def test_subset_ignores_server_defaults_but_not_changes() -> None:
    want = {"spec": {"ports": [{"port": 9400, "name": "metrics"}], "selector": {}}}
    have = {"spec": {"ports": [{"port": 9400, "name": "metrics", "protocol": "TCP"}], "selector": {}, "type": "X"}}
    assert is_subset(want, have)
    assert not is_subset({"spec": {"ports": [{"port": 9401}]}}, have)
    assert not is_subset({"a": [1, 2]}, {"a": [1]})
    assert is_subset({"n": 4}, {"n": 4.0}) and not is_subset({"b": True}, {"b": 1})
    assert is_subset({"spec": {"podSelector": {}}}, {"spec": {}})  # omitted empty value is not drift


def test_missing_is_created_present_is_left_alone() -> None:
    d = decide({"quotas": [quota("a"), quota("b")]}, {}, {key_of(quota("a")): served(quota("a"))}, {}, {})
    assert [(a.op, a.key[2]) for a in d.actions] == [("create", "b")]
    assert d.managed == {"quotas": 1}


def test_drift_is_updated() -> None:
    have = served(quota("a", gpus="99"))
    d = decide({"quotas": [quota("a")]}, {}, {key_of(have): have}, {}, {})
    assert [a.op for a in d.actions] == ["update"]


def test_prune_only_ours_with_uid_precondition() -> None:
    gone = served(quota("old"))
    d = decide({"quotas": []}, {}, {key_of(gone): gone}, {}, {})
    assert [(a.op, a.uid) for a in d.actions] == [("delete", "u-old")]


def test_foreign_object_is_a_conflict_not_an_action() -> None:
    d = decide({"quotas": [quota("a")]}, {}, {}, {key_of(quota("a")): "exists and is not managed by aiconform"}, {})
    assert d.actions == ()
    assert "left untouched" in d.conflicts[0].message()


def test_namespace_labels_only_when_different() -> None:
    patch = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    ns_ok = {"metadata": {"name": "team", "labels": {"pod-security.kubernetes.io/enforce": "restricted", "x": "y"}}}
    assert decide({}, {"seccomp": [patch]}, {}, {}, {"team": ns_ok}).actions == ()
    ns_bad = {"metadata": {"name": "team", "labels": {}}}
    assert [a.op for a in decide({}, {"seccomp": [patch]}, {}, {}, {"team": ns_bad}).actions] == ["label"]


def test_namespaces_are_created_first_and_deletes_last() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dcgm", "labels": dict(LABELS)}}
    gone = served(quota("old"))
    d = decide({"dcgm": [quota("dcgm"), ns]}, {}, {key_of(gone): gone}, {}, {})
    assert [(a.op, a.key[1]) for a in d.actions] == [
        ("create", "Namespace"),
        ("create", "ResourceQuota"),
        ("delete", "ResourceQuota"),
    ]
    assert audit_summary(d.actions) == {
        "create": ["Namespace dcgm", "ResourceQuota dcgm/aiconform-gpu"],
        "delete": ["ResourceQuota old/aiconform-gpu"],
    }
