"""Deleting a profile with `deletionPolicy: Orphan`: the patch that leaves its objects to live on."""

from __future__ import annotations

from aiconform.operator import applier


def test_orphan_patch_drops_only_the_profiles_reference_from_that_very_object() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "q",
            "namespace": "t",
            "uid": "obj-1",
            "ownerReferences": [{"uid": "profile-1", "kind": "ConformanceProfile"}, {"uid": "other", "kind": "X"}],
        },
    }
    assert applier.orphan_patch(obj, "profile-1") == [
        {"op": "test", "path": "/metadata/uid", "value": "obj-1"},
        {"op": "add", "path": "/metadata/ownerReferences", "value": [{"uid": "other", "kind": "X"}]},
    ]
