"""The initial-listing gate: which collections are counted, and when the view has shown enough."""

from __future__ import annotations

from aiconform.clusterview import ClusterView, Watched
from aiconform.constants import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from aiconform.listing import collection_path, describe, unmet

SERVED = frozenset({"v1/pods", "apps/v1/deployments", "kueue.x-k8s.io/v1beta2/localqueues", "v1/configmaps"})


def test_paths_for_core_group_custom_and_managed_kinds() -> None:
    assert collection_path(Watched("", "v1", "pods", "pods"), SERVED) == "/api/v1/pods"
    assert collection_path(Watched("apps", "v1", "deployments", "deployments"), SERVED) == "/apis/apps/v1/deployments"
    custom = Watched("kueue.x-k8s.io", None, "localqueues", "custom")
    assert collection_path(custom, SERVED) == "/apis/kueue.x-k8s.io/v1beta2/localqueues"
    managed = collection_path(Watched("", "v1", "configmaps", "managed"), SERVED)
    assert managed == f"/api/v1/configmaps?labelSelector={LABEL_MANAGED_BY}%3D{MANAGED_BY_VALUE}"


def test_unserved_resources_are_not_waited_for() -> None:
    assert collection_path(Watched("resource.k8s.io", "v1", "resourceslices", "resource_slices"), SERVED) is None
    assert collection_path(Watched("keda.sh", None, "scaledobjects", "custom"), SERVED) is None


def test_unmet_lists_only_short_watches() -> None:
    shown = {"pods": 3, "nodes": 5}.get
    assert unmet({"pods": 4, "nodes": 5}, lambda k: shown(k) or 0) == {"pods": (3, 4)}
    assert unmet({"pods": 3}, lambda k: shown(k) or 0) == {}
    assert describe({f"k{i}": (i, 9) for i in range(8)}, limit=2) == "k0 0/9, k1 1/9 and 6 more"


def _pod(name: str, ours: bool = False) -> dict[str, object]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE} if ours else {}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "a", "labels": labels}}


def test_view_counts_distinct_objects_shown_including_deleted_ones() -> None:
    view = ClusterView()
    view.apply_event("pods", None, _pod("p1"))
    view.apply_event("pods", "MODIFIED", _pod("p1"))
    view.apply_event("pods", "ADDED", _pod("p2"))
    view.apply_event("pods", "DELETED", _pod("p2"))
    assert view.shown("pods") == 2 and len(view.objects("pods")) == 1


def test_managed_only_kinds_count_only_ours_as_the_labelled_list_does() -> None:
    view = ClusterView()
    view.apply_event("configmaps", None, _pod("theirs"), managed_only=True)
    view.apply_event("configmaps", None, _pod("mine", ours=True), managed_only=True)
    assert view.shown("configmaps") == 1


def test_listing_complete_stops_counting() -> None:
    view = ClusterView()
    view.apply_event("pods", None, _pod("p1"))
    assert not view.listed
    view.listing_complete()
    view.apply_event("pods", None, _pod("p2"))
    assert view.listed and view.shown("pods") == 0 and len(view.objects("pods")) == 2


def test_deletions_of_our_objects_are_kept_by_profile_until_taken() -> None:
    view = ClusterView()
    ours = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, "aiconform.io/profile": "p1"}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}
    view.apply_event("np", None, {**policy, "metadata": {"name": "a", "namespace": "t", "labels": ours}})
    view.apply_event("np", "DELETED", {**policy, "metadata": {"name": "a", "namespace": "t", "labels": ours}})
    view.apply_event("np", "DELETED", {**policy, "metadata": {"name": "b", "namespace": "t"}})  # not ours
    assert view.deleted_event.is_set()
    assert view.take_deleted("p1") == [("networking.k8s.io/v1", "NetworkPolicy", "t", "a")]
    assert view.take_deleted("p1") == [] and view.take_deleted("p2") == []
