"""The one-shot collector reads what the source table says, as the operator does: optional stacks at the CRD's
preferred served version, objects trimmed by the same rules, and what it cannot read recorded, never empty."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.kube.collect import CollectError, collect
from aiconform.kube.snapshot import Snapshot

CQ = "clusterqueues.kueue.x-k8s.io"


def _crd(name: str, versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"versions": versions},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }


class FakeKube:
    """Enough of KubeClient for collect(): a served core, apps, CRDs, HPAs and VAPs; errors by path."""

    def __init__(self, errors: dict[str, Exception] | None = None) -> None:
        self.errors = errors or {}
        self.paths: list[str] = []
        groups = ("apps/v1", "autoscaling/v2", "apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1")
        self.docs: dict[str, Any] = {
            "/api/v1": {"resources": [{"name": n} for n in ("namespaces", "nodes", "pods", "services")]},
            "/apis": {"groups": [{"versions": [{"groupVersion": gv}]} for gv in groups]},
            "/apis/apps/v1": {"resources": [{"name": "deployments"}, {"name": "daemonsets"}]},
            "/apis/autoscaling/v2": {"resources": [{"name": "horizontalpodautoscalers"}]},
            "/apis/apiextensions.k8s.io/v1": {"resources": [{"name": "customresourcedefinitions"}]},
            "/apis/admissionregistration.k8s.io/v1": {"resources": [{"name": "validatingadmissionpolicies"}]},
        }
        # Storage v1beta1, but v1beta2 served too: the API server (and the operator) prefer v1beta2.
        kueue = [
            {"name": "v1beta1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v1beta2", "served": True, "storage": False},
        ]
        node = {
            "metadata": {"name": "n1", "resourceVersion": "42", "managedFields": [{"manager": "kubelet"}]},
            "status": {
                "capacity": {"cpu": "8"},
                "images": [{"names": ["big"], "sizeBytes": 1}],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t"}],
            },
        }
        self.lists: dict[str, list[dict[str, Any]]] = {
            "/api/v1/nodes": [node],
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions": [_crd(CQ, kueue)],
            "/apis/kueue.x-k8s.io/v1beta2/clusterqueues": [{"metadata": {"name": "gpu"}, "status": {"x": 1}}],
        }

    def _maybe_fail(self, path: str) -> None:
        self.paths.append(path)
        if path in self.errors:
            raise self.errors[path]

    async def version(self) -> dict[str, Any]:
        return {"gitVersion": "v1.37.2"}

    async def get(self, path: str) -> dict[str, Any] | None:
        self._maybe_fail(path)
        return self.docs.get(path)

    async def list(self, path: str) -> list[dict[str, Any]]:
        self._maybe_fail(path)
        return [dict(item) for item in self.lists.get(path, [])]


def _collect(kube: FakeKube) -> Snapshot:
    return asyncio.run(collect(cast(KubeClient, kube), scrape=False))


def test_optional_stacks_are_read_at_the_preferred_served_version_not_the_storage_one() -> None:
    kube = FakeKube()
    snap = _collect(kube)
    assert "/apis/kueue.x-k8s.io/v1beta2/clusterqueues" in kube.paths
    assert "/apis/kueue.x-k8s.io/v1beta1/clusterqueues" not in kube.paths
    assert [q["metadata"]["name"] for q in snap.objects(CQ)] == ["gpu"]
    assert snap.unreadable == {}


def test_objects_are_trimmed_as_the_operator_view_trims_them() -> None:
    snap = _collect(FakeKube())
    assert snap.nodes[0] == {
        "metadata": {"name": "n1"},
        "status": {"capacity": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert all("schema" not in v for v in snap.crds[0]["spec"]["versions"])


def test_a_forbidden_optional_source_is_recorded_not_empty() -> None:
    hpas = "/apis/autoscaling/v2/horizontalpodautoscalers"
    vaps = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
    cqs = "/apis/kueue.x-k8s.io/v1beta2/clusterqueues"
    errors: dict[str, Exception] = {
        hpas: KubeApiError(403, 'horizontalpodautoscalers.autoscaling is forbidden: User "ci" cannot list'),
        vaps: KubeApiError(500, "etcdserver: request timed out"),
        cqs: KubeApiError(403, "forbidden"),
    }
    snap = _collect(FakeKube(errors))
    assert snap.hpas == () and snap.validating_admission_policies == ()
    assert snap.unreadable["horizontalpodautoscalers.autoscaling"].startswith("forbidden: HTTP 403: ")
    assert (
        "needs list and watch on horizontalpodautoscalers.autoscaling"
        in snap.unreadable["horizontalpodautoscalers.autoscaling"]
    )
    assert snap.unreadable["validatingadmissionpolicies.admissionregistration.k8s.io"] == (
        "LIST failed: HTTP 500: etcdserver: request timed out"
    )
    # The stack is installed (its key is present) but unseen: recorded as such.
    assert snap.custom[CQ] == () and snap.unreadable[CQ].startswith("forbidden: ")


def test_a_source_that_is_not_served_is_neither_listed_nor_unreadable() -> None:
    kube = FakeKube()
    snap = _collect(kube)
    assert not any("resource.k8s.io" in p for p in kube.paths) and snap.resource_slices == ()
    assert "resourceslices.resource.k8s.io" not in snap.unreadable


def test_a_required_source_that_cannot_be_read_stops_the_check() -> None:
    with pytest.raises(CollectError, match=r"forbidden to read v1/pods \(HTTP 403\)"):
        _collect(FakeKube({"/api/v1/pods": KubeApiError(403, "forbidden")}))
    with pytest.raises(CollectError, match=r"reading deployments\.apps failed: HTTP 500"):
        _collect(FakeKube({"/apis/apps/v1/deployments": KubeApiError(500, "boom")}))
