"""The list+watch loops' pure parts: which resources are watched where, version preference, LIST items, the
line splitter, and what a re-list does to the view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

import pytest

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube import informer
from aiconform.kube.client import KubeApiError, KubeClient, json_lines
from aiconform.kube.informer import (
    Gone,
    Informers,
    Source,
    builtin_sources,
    custom_sources,
    preferred_version,
    version_priority,
    with_kind,
)
from aiconform.kube.sources import BY_KEY, SOURCES, STACKS, Watched
from aiconform.kube.view import ClusterView, ident_of

SERVED = frozenset({"v1/pods", "apps/v1/deployments", "v1/configmaps"})


def test_builtin_sources_only_for_served_resources_and_managed_kinds_by_label() -> None:
    sources = builtin_sources(SOURCES, SERVED)
    assert set(sources) == {"pods", "deployments.apps", "configmaps"}
    assert sources["pods"].path == "/api/v1/pods" and sources["pods"].label_selector is None
    assert sources["deployments.apps"].path == "/apis/apps/v1/deployments"
    assert sources["configmaps"].label_selector == f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"


def _crd(name: str, versions: list[tuple[str, bool]], established: bool = True) -> dict[str, Any]:
    status = "True" if established else "False"
    return {
        "metadata": {"name": name},
        "spec": {"versions": [{"name": v, "served": served} for v, served in versions]},
        "status": {"conditions": [{"type": "Established", "status": status}]},
    }


def test_version_preference_follows_kubernetes_order() -> None:
    names = ["v1alpha1", "foo", "v1beta1", "v2beta1", "v1", "v1beta2", "bar", "v2"]
    assert sorted(names, key=version_priority) == [
        "v2",
        "v1",
        "v2beta1",
        "v1beta2",
        "v1beta1",
        "v1alpha1",
        "bar",
        "foo",
    ]


def test_custom_sources_need_an_established_crd_and_take_its_preferred_served_version() -> None:
    crds = [
        _crd("localqueues.kueue.x-k8s.io", [("v1beta1", True), ("v1beta2", True), ("v1", False)]),
        _crd("scaledobjects.keda.sh", [("v1alpha1", True)], established=False),
        _crd("gateways.gateway.networking.k8s.io", [("v1", False)]),  # nothing served
    ]
    sources = custom_sources(STACKS, crds)
    assert set(sources) == {"localqueues.kueue.x-k8s.io"}
    assert sources["localqueues.kueue.x-k8s.io"].path == "/apis/kueue.x-k8s.io/v1beta2/localqueues"
    assert preferred_version({"spec": {"versions": []}}) is None


def test_list_items_get_the_kind_and_api_version_the_server_leaves_out() -> None:
    items = with_kind([{"metadata": {"name": "a"}}, {"kind": "Pod", "apiVersion": "v1"}], "PodList", "v1")
    assert items[0]["kind"] == "Pod" and items[0]["apiVersion"] == "v1"
    crs = with_kind([{"metadata": {}}], "LocalQueueList", "kueue.x-k8s.io/v1beta2")
    assert crs[0]["kind"] == "LocalQueue"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_json_lines_joins_split_lines_and_keeps_long_ones() -> None:
    big = b'{"x": "' + b"y" * 300_000 + b'"}'
    got = [line async for line in json_lines(_chunks(b'{"a"', b": 1}\n", big[:1000], big[1000:] + b"\n\n", b"{}"))]
    assert got == [b'{"a": 1}', big, b"{}"]


def _np(name: str, profile: str | None = "p1") -> dict[str, Any]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: profile} if profile else {}
    owners = [{"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "name": profile, "uid": "u1"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "t", "labels": labels, "ownerReferences": owners if profile else []},
    }


def _relist(view: ClusterView, key: str, items: list[dict[str, Any]], managed_only: bool = False) -> None:
    """What Informers._list does with the pages of one LIST."""
    for item in items:
        view.apply_event(key, "ADDED", item, managed_only=managed_only)
    view.retain(key, {ident_of(i) for i in items})


def test_relist_deletes_what_the_new_list_lacks_and_reports_ours() -> None:
    view = ClusterView()
    _relist(view, "np", [_np("a"), _np("b"), _np("theirs", profile=None)])
    assert len(view.objects("np")) == 3
    before = view.generation
    _relist(view, "np", [_np("b"), _np("c")])
    assert {o["metadata"]["name"] for o in view.objects("np")} == {"b", "c"}
    assert view.generation > before
    assert [deleted[-1] for deleted in view.take_deleted("p1")] == ["a"]  # ours, by name
    same = view.generation
    _relist(view, "np", [_np("b"), _np("c")])
    assert view.generation == same  # nothing changed: nobody is woken


def test_managed_only_relist_keeps_only_ours() -> None:
    view = ClusterView()
    _relist(view, "configmaps", [_np("mine"), _np("theirs", profile=None)], managed_only=True)
    assert [o["metadata"]["name"] for o in view.objects("configmaps")] == ["mine"]


def test_drop_forgets_without_reporting_deletions() -> None:
    view = ClusterView()
    _relist(view, "np", [_np("a")])
    view.drop("np")
    assert view.objects("np") == () and view.take_deleted("p1") == []
    assert Watched("keda.sh", None, "scaledobjects", "custom").key == "scaledobjects.keda.sh"


class _Stream:
    """Stands in for KubeClient.watch: the events one watch request would bring."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    async def watch(self, path: str, params: Mapping[str, str], *, read_timeout: float) -> AsyncIterator[Any]:
        for event in self.events:
            yield event


def _informers(events: list[dict[str, Any]]) -> tuple[Informers, ClusterView]:
    view = ClusterView()
    return Informers(view, lambda: cast(KubeClient, _Stream(events))), view


async def test_watch_applies_events_resumes_from_bookmarks_and_lists_again_on_410() -> None:
    cm = BY_KEY["configmaps"]
    source = Source(cm, "/api/v1/configmaps")
    mine = {**_np("a"), "apiVersion": "v1", "kind": "ConfigMap"}
    mine["metadata"] = {**mine["metadata"], "resourceVersion": "7"}
    informers, view = _informers(
        [{"type": "ADDED", "object": mine}, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}]
    )
    assert await informers._watch(source, "5") == ("9", 2)
    assert [o["metadata"]["name"] for o in view.objects(cm.key)] == ["a"]
    expired = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}
    informers, _ = _informers([expired])
    with pytest.raises(Gone):
        await informers._watch(source, "5")


class _Expiring:
    """A client whose first watch finds its version compacted (410 in an ERROR event); later watches wait."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches = 0

    async def request(self, method: str, path: str, *, params: Mapping[str, str]) -> dict[str, Any]:
        self.lists += 1
        return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"}, "items": []}

    async def watch(self, path: str, params: Mapping[str, str], *, read_timeout: float) -> AsyncIterator[Any]:
        self.watches += 1
        if self.watches == 1:
            yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}
            return
        await asyncio.sleep(60)


async def test_a_compacted_version_lists_again_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    kube = _Expiring()
    informers = Informers(ClusterView(), lambda: cast(KubeClient, kube))
    caplog.set_level("INFO", logger=informer.__name__)
    task = asyncio.ensure_future(informers._run(Source(BY_KEY["configmaps"], "/api/v1/configmaps"), asyncio.Event()))
    try:
        await _until(lambda: kube.lists == 2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "Listing configmaps again: the watch's resourceVersion is too old (410 Gone)" in caplog.text


class _Refusing:
    """A client whose LISTs are refused (403) until `allowed` is set; its watches end at once."""

    def __init__(self) -> None:
        self.allowed = False
        self.lists = 0

    async def request(self, method: str, path: str, *, params: Mapping[str, str]) -> dict[str, Any]:
        self.lists += 1
        if not self.allowed:
            raise KubeApiError(403, 'pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods"')
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}

    async def watch(self, path: str, params: Mapping[str, str], *, read_timeout: float) -> AsyncIterator[Any]:
        await asyncio.sleep(0.01)
        return
        yield

    async def close(self) -> None:
        pass


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_a_refused_list_is_recorded_as_unreadable_until_it_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(informer, "backoff", lambda failures: 0.0)
    kube, view = _Refusing(), ClusterView()
    informers = Informers(view, lambda: cast(KubeClient, kube))
    informers.sync({"pods": Source(BY_KEY["pods"], "/api/v1/pods")})
    try:
        await informers.wait_listed()  # a refusal is not waited for: the first pass goes ahead, and says it
        await _until(lambda: "pods" in view.snapshot().unreadable)
        why = view.snapshot().unreadable["pods"]
        assert why.startswith("forbidden: HTTP 403: pods is forbidden") and why.endswith(
            "(needs list and watch on pods)"
        )
        generation = view.generation
        await _until(lambda: kube.lists >= 3)  # retried in the background (RBAC may be fixed)...
        assert view.generation == generation  # ...without waking anyone while nothing changes
        kube.allowed = True
        await _until(lambda: view.snapshot().unreadable == {})
    finally:
        await informers.close()
    assert view.generation > generation


def test_dropping_a_source_forgets_that_it_was_unreadable() -> None:
    view = ClusterView()
    view.set_unreadable("rayclusters.ray.io", "forbidden: HTTP 403")
    view.drop("rayclusters.ray.io")
    assert view.snapshot().unreadable == {}
