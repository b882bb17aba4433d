"""The fast drift path re-creates only what the last pass wanted: never what it pruned, never twice."""

from __future__ import annotations

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube.view import ClusterView
from aiconform.operator import reconciler


def _np(name: str) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "t"}}


def test_repairs_only_last_desired_keys_once() -> None:
    wanted = _np("a")
    key_a = ("networking.k8s.io", "NetworkPolicy", "t", "a")
    key_pruned = ("networking.k8s.io", "NetworkPolicy", "t", "gone")
    memory = reconciler.ProfileMemory()
    memory.desired = reconciler.Desired(reconciler.encode_desired({"networkPolicies": [wanted]}))
    assert list(memory.desired) == [key_a]
    actions = reconciler.repairs(memory, [key_a, key_pruned, key_a])
    assert [(a.op, a.component, a.obj) for a in actions] == [("create", "networkPolicies", wanted)]
    assert reconciler.repairs(reconciler.ProfileMemory(), [key_a]) == []  # another profile's (or no pass yet)


def test_deletions_of_our_objects_are_kept_by_profile_until_taken() -> None:
    view = ClusterView()
    ours = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: "p1"}
    owner = [{"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "name": "p1", "uid": "u1"}]
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}
    mine = {"name": "a", "namespace": "t", "labels": ours, "ownerReferences": owner}
    view.apply_event("np", None, {**policy, "metadata": mine})
    view.apply_event("np", "DELETED", {**policy, "metadata": mine})
    view.apply_event("np", "DELETED", {**policy, "metadata": {"name": "b", "namespace": "t"}})  # not ours
    # Labels copied by another controller onto a kind we do not make (KEDA's HPA): never a repair.
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}
    view.apply_event("hpa", "DELETED", {**hpa, "metadata": {"name": "keda-hpa-x", "namespace": "t", "labels": ours}})
    # Our labels but no profile owner (orphaned on purpose, or labelled by hand): not ours either.
    view.apply_event("np", "DELETED", {**policy, "metadata": {"name": "c", "namespace": "t", "labels": ours}})
    assert view.deleted_event("p1").is_set()
    assert not view.deleted_event("p2").is_set()  # another profile's repair task is not woken for nothing
    assert view.take_deleted("p1") == [("networking.k8s.io", "NetworkPolicy", "t", "a")]
    assert view.take_deleted("p1") == [] and view.take_deleted("p2") == []
