"""The fast drift path re-creates only what the last pass wanted: never what it pruned, never twice."""

from __future__ import annotations

from aiconform import reconciler


def _np(name: str) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "t"}}


def test_repairs_only_last_desired_keys_once() -> None:
    wanted = _np("a")
    key_a = ("networking.k8s.io/v1", "NetworkPolicy", "t", "a")
    key_pruned = ("networking.k8s.io/v1", "NetworkPolicy", "t", "gone")
    reconciler.memory.desired["uid-1"] = {key_a: ("networkPolicies", wanted)}
    try:
        actions = reconciler.repairs("uid-1", [key_a, key_pruned, key_a])
        assert [(a.op, a.component, a.obj) for a in actions] == [("create", "networkPolicies", wanted)]
        assert reconciler.repairs("uid-2", [key_a]) == []  # another profile's (or no pass yet): nothing
    finally:
        reconciler.forget("uid-1")
    assert reconciler.repairs("uid-1", [key_a]) == []  # forgotten on profile deletion
