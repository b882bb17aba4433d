"""Ownership that other controllers cannot counterfeit, identity without the version, and a pass that never dies
on one object (issue: the real KEDA operator copies our labels onto the HPA it makes)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube import kinds
from aiconform.kube.client import KubeApiError, UnknownKind, path_for
from aiconform.kube.view import ClusterView
from aiconform.operator import applier

UID = "0b5c3f1e-6d1a-4f5e-9c1a-2f0e8a7d4b11"
LABELS = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: "production", "app.kubernetes.io/component": "keda"}
PROFILE_REF = {"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "name": "production", "uid": UID}


def _obj(api_version: str, kind: str, name: str, owners: list[dict[str, Any]], ns: str = "team-a") -> dict[str, Any]:
    meta = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": dict(LABELS), "ownerReferences": owners}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


SCALED_OBJECT = _obj("keda.sh/v1alpha1", "ScaledObject", "vllm", [PROFILE_REF])
# What KEDA makes of it: our labels copied, owned by the ScaledObject.
KEDA_HPA = _obj(
    "autoscaling/v2",
    "HorizontalPodAutoscaler",
    "keda-hpa-vllm",
    [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "vllm", "uid": "uid-vllm", "controller": True}],
)


def test_ours_needs_our_kind_and_our_owner_reference_labels_never_suffice() -> None:
    assert kinds.ownership(SCALED_OBJECT, UID) == "ours"
    assert kinds.ownership(KEDA_HPA, UID) == "foreign"  # the HPA: our labels, KEDA's child
    labelled_only = _obj("keda.sh/v1alpha1", "ScaledObject", "x", [])
    assert kinds.ownership(labelled_only, UID) == "foreign"
    another_profile = _obj("keda.sh/v1alpha1", "ScaledObject", "y", [{**PROFILE_REF, "uid": "other-uid"}])
    assert kinds.ownership(another_profile, UID) == "foreign"
    # A Pod of one of our DaemonSets, even with our labels and (wrongly) our owner: not a kind we make.
    pod = _obj("v1", "Pod", "dcgm-abcde", [PROFILE_REF])
    assert kinds.ownership(pod, UID) == "foreign"


def test_an_object_of_ours_another_controller_took_as_owner_is_adopted() -> None:
    adopted = _obj(
        "v1", "ConfigMap", "cfg", [PROFILE_REF, {"apiVersion": "v1", "kind": "Foo", "name": "f", "uid": "u"}]
    )
    assert kinds.ownership(adopted, UID) == "adopted"


def test_identity_has_no_version() -> None:
    """A custom resource seen at its CRD's preferred version and written at ours is one object."""
    written = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": "gpu"}}
    seen = {"apiVersion": "kueue.x-k8s.io/v1", "kind": "ClusterQueue", "metadata": {"name": "gpu"}}
    assert kinds.ident_of(written) == kinds.ident_of(seen) == ("kueue.x-k8s.io", "ClusterQueue", "", "gpu")
    assert applier.key_of(written) == applier.key_of(seen)
    # ... so a pass that sees it at another version neither prunes nor re-creates it.
    decision = applier.decide({"kueue": [written]}, {}, {kinds.ident_of(seen): seen}, {}, {})
    assert decision.actions == ()  # not pruned, not re-created, and not "updated" back to our version
    assert path_for(seen) == "/apis/kueue.x-k8s.io/v1/clusterqueues/gpu"  # addressed at the version it was read


def test_registry_is_one_table_with_unique_kinds_and_an_apply_order() -> None:
    assert len({(k.group, k.kind) for k in kinds.KINDS}) == len(kinds.KINDS)
    assert kinds.MANAGED_KINDS[0].kind == "Namespace"
    assert kinds.apply_rank("ClusterQueue") < kinds.apply_rank("LocalQueue")
    assert kinds.apply_rank("HorizontalPodAutoscaler") == len(kinds.MANAGED_KINDS)  # not ours: last
    assert kinds.lookup("autoscaling/v2", "HorizontalPodAutoscaler") is not None
    with pytest.raises(UnknownKind):
        path_for({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_the_view_counts_only_what_the_profile_made() -> None:
    view = ClusterView()
    view.apply_event("scaledobjects.keda.sh", None, SCALED_OBJECT)
    view.apply_event("horizontalpodautoscalers.autoscaling", None, KEDA_HPA)
    owned = view.managed("production", UID)
    assert list(owned.ours) == [("keda.sh", "ScaledObject", "team-a", "vllm")]
    assert owned.adopted == {}
    assert view.managed("production", "another-uid").ours == {}  # a re-created profile of the same name


class _Client:
    """A stand-in for the REST client: records writes, fails the ones it is told to (unit test of the pure
    error handling; the real API server's answers are covered by the e2e suite)."""

    concurrency = 4

    def __init__(self, fail: Mapping[str, Exception]) -> None:
        self.fail = fail
        self.written: list[str] = []

    async def _do(self, obj: Mapping[str, Any]) -> None:
        path_for(obj)  # an unknown kind raises here, as in the real client
        name = str(obj["metadata"]["name"])
        if name in self.fail:
            raise self.fail[name]
        self.written.append(name)

    async def create(self, obj: Mapping[str, Any], **_: Any) -> None:
        await self._do(obj)

    async def apply(self, obj: Mapping[str, Any], **_: Any) -> None:
        await self._do(obj)

    async def delete(self, obj: Mapping[str, Any], **_: Any) -> None:
        await self._do(obj)


def _quota(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "t"}}


def test_a_pass_never_dies_on_one_object() -> None:
    """Unknown kind, 403, a webhook's refusal: each is an error on its component; every other action is done."""
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "t"}}
    actions = [
        applier.Action("create", "quotas", _quota("ok-1")),
        applier.Action("delete", "keda", widget, uid="u"),
        applier.Action("update", "quotas", _quota("forbidden")),
        applier.Action("create", "quotas", _quota("refused")),
        applier.Action("create", "quotas", _quota("ok-2")),
    ]
    client = _Client(
        {
            "forbidden": KubeApiError(403, "resourcequotas is forbidden"),
            "refused": KubeApiError(422, 'admission webhook "x" denied the request'),
        }
    )
    outcome = asyncio.run(applier.execute(client, actions))  # type: ignore[arg-type]
    assert sorted(client.written) == ["ok-1", "ok-2"]
    assert sorted(a.obj["metadata"]["name"] for a in outcome.done) == ["ok-1", "ok-2"]
    errors = dict((msg.split(":")[0], c) for c, msg in outcome.errors)
    assert errors == {
        "delete Widget t/w": "keda",
        "update ResourceQuota t/forbidden": "quotas",
        "create ResourceQuota t/refused": "quotas",
    }
    assert any("kinds registry" in msg for _, msg in outcome.errors)


def test_kinds_only_we_write_are_kept_encoded_and_read_back_whole() -> None:
    """ResourceQuotas (watch mode "ours") are held as JSON and decoded when asked for: the same objects, the same
    changes and deletions, and a re-sent identical object is no change."""
    view = ClusterView()
    quota = _obj("v1", "ResourceQuota", "aiconform-gpu", [PROFILE_REF])
    quota["metadata"]["labels"]["app.kubernetes.io/component"] = "quotas"
    quota["spec"] = {"hard": {"requests.nvidia.com/gpu": "8"}}
    quota["status"] = {"used": {"requests.nvidia.com/gpu": "1"}}  # not kept: only we write quotas
    view.apply_event("resourcequotas", None, quota)
    kept = {**quota, "status": {}}
    assert view.objects("resourcequotas") == (kept,)
    assert view.managed("production", UID).ours == {("", "ResourceQuota", "team-a", "aiconform-gpu"): kept}
    owned = view.managed("production", UID).ours
    assert owned.component(("", "ResourceQuota", "team-a", "aiconform-gpu")) == "quotas"
    first, second = owned[("", "ResourceQuota", "team-a", "aiconform-gpu")], next(iter(owned.values()))
    assert first == second and first is not second  # decoded on each read, not kept by the view
    assert view.managed("production", UID, {"quotas": frozenset({"other"})}).ours == {}
    before = view.generation
    view.apply_event("resourcequotas", "MODIFIED", {**quota, "status": {"used": {"requests.nvidia.com/gpu": "2"}}})
    assert view.generation == before  # status.used moved: nothing we keep did
    view.apply_event("resourcequotas", "MODIFIED", {**quota, "spec": {"hard": {"requests.nvidia.com/gpu": "4"}}})
    assert view.generation == before + 1
    assert view.objects("resourcequotas")[0]["spec"] == {"hard": {"requests.nvidia.com/gpu": "4"}}
    view.apply_event("resourcequotas", "DELETED", quota)
    assert view.objects("resourcequotas") == ()
    assert view.managed("production", UID).ours == {}
    assert view.take_deleted("production") == [("", "ResourceQuota", "team-a", "aiconform-gpu")]
