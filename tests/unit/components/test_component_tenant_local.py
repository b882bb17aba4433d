"""The contract behind re-rendering one namespace alone (components.TENANT_LOCAL): for a tenant-local component,
what it renders in a set of namespaces from `within(snapshot, those)` is exactly what it renders there from the
whole snapshot (objects, field patches, `Local` notes), and its other notes and cluster-scoped objects do not
move when one namespace's objects change."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from compbuilders import INFERENCE, REF, deployment, enabled, hpa, namespace, profile, scaled_object, snap, tenant

from aiconform.api.models import ProfileSpec
from aiconform.components import COMPONENTS, TENANT_LOCAL, Local, Plan, tenant_local
from aiconform.kube.snapshot import Obj, Snapshot, within

SPEC = profile(
    components=enabled(
        "kueue",
        "keda",
        "seccomp",
        "dra",
        quotas={"draDevicesPerTenant": 2},
        networkPolicies={"gatewayNamespace": "gateway"},
    )
)
ADOPTING = profile(components=enabled("kueue", kueue={"existingClusterQueue": "platform"}))


def _world(extra: Iterable[Obj] = ()) -> Snapshot:
    return snap(
        namespaces=[tenant("team-a"), tenant("team-b"), tenant("team-c"), namespace("other"), *extra],
        deployments=[
            deployment("team-a", "vllm", INFERENCE),
            deployment("team-b", "has-hpa", INFERENCE),
            deployment("team-b", "foreign", INFERENCE),
            deployment("team-c", "plain"),
            deployment("other", "vllm", INFERENCE),
        ],
        hpas=[hpa("team-b", "has-hpa", "has-hpa")],
        custom={"scaledobjects.keda.sh": [scaled_object("team-b", "x", "foreign")]},
    )


def _ns(obj: Obj) -> str:
    meta = obj["metadata"]
    return str(meta["name"] if obj["kind"] == "Namespace" else meta.get("namespace") or "")


def _part(plan: Plan, namespaces: frozenset[str]) -> tuple[Any, Any, Any]:
    return (
        [o for o in plan.objects if o["metadata"].get("namespace") in namespaces],
        [p for p in plan.field_patches if _ns(p) in namespaces],
        [n for n in plan.notes if isinstance(n, Local) and n.namespace in namespaces],
    )


def _rest(plan: Plan) -> tuple[Any, Any]:
    """What must not depend on any one namespace's objects: cluster-scoped objects and the non-local notes."""
    return [o for o in plan.objects if not o["metadata"].get("namespace")], [
        n for n in plan.notes if not isinstance(n, Local)
    ]


def _tenant_local(spec: ProfileSpec) -> list[str]:
    return [c for c in COMPONENTS if tenant_local(spec, c)]


def test_the_split_components_are_the_ones_that_render_per_tenant() -> None:
    assert set(TENANT_LOCAL) == {"kueue", "keda", "quotas", "networkPolicies", "seccomp"}
    assert "kueue" not in _tenant_local(ADOPTING)  # its notes count the tenants an adopted queue admits


@pytest.mark.parametrize("component", _tenant_local(SPEC))
def test_a_namespace_renders_alone_as_it_does_among_all(component: str) -> None:
    world = _world()
    whole = COMPONENTS[component](SPEC, world, REF)
    names = ["team-a", "team-b", "team-c", "other", "kube-system"]
    for size in (1, 2):
        for chosen in itertools.combinations(names, size):
            some = frozenset(chosen)
            alone = COMPONENTS[component](SPEC, within(world, some, TENANT_LOCAL[component].cluster_reads), REF)
            assert _part(alone, some) == _part(whole, some), (component, some)


@pytest.mark.parametrize("component", _tenant_local(SPEC))
def test_one_namespace_changing_moves_only_its_own_part(component: str) -> None:
    before = COMPONENTS[component](SPEC, _world(), REF)
    edits = [
        [namespace("team-c")],  # no longer a tenant (same name: replaces it below)
        [tenant("new-team")],
        [namespace("other", {"x": "y"})],
    ]
    for extra in edits:
        names = {n["metadata"]["name"] for n in extra}
        world = _world()
        world = type(world)(
            **{**world.__dict__, "namespaces": tuple(n for n in world.namespaces if n["metadata"]["name"] not in names)}
        )
        changed = type(world)(**{**world.__dict__, "namespaces": (*world.namespaces, *extra)})
        after = COMPONENTS[component](SPEC, changed, REF)
        assert _rest(after) == _rest(before), (component, extra)
        untouched = frozenset({"team-a", "team-b"} - names)
        assert _part(after, untouched) == _part(before, untouched)


def test_keda_notes_about_a_deployment_are_local_to_its_namespace() -> None:
    plan = COMPONENTS["keda"](SPEC, _world(), REF)
    local = [n for n in plan.notes if isinstance(n, Local)]
    assert {n.namespace for n in local} == {"team-b"}
    assert all("team-b/" in n for n in local)


@pytest.mark.parametrize("component", _tenant_local(SPEC))
def test_a_tenants_workloads_changing_moves_only_its_own_part(component: str) -> None:
    world = _world()
    before = COMPONENTS[component](SPEC, world, REF)
    without_hpa = type(world)(**{**world.__dict__, "hpas": ()})  # team-b's Deployment is ours to scale now
    after = COMPONENTS[component](SPEC, without_hpa, REF)
    assert _rest(after) == _rest(before), component
    assert _part(after, frozenset({"team-a", "team-c"})) == _part(before, frozenset({"team-a", "team-c"}))


@pytest.mark.parametrize("component", _tenant_local(SPEC))
def test_the_cluster_part_renders_alone_as_it_does_among_all(component: str) -> None:
    """A whole pass renders a tenant-local component's cluster-scoped objects and non-local notes from the
    cluster-scoped data alone (the partition ""), then its namespaces in batches."""
    world = _world()
    whole = COMPONENTS[component](SPEC, world, REF)
    alone = COMPONENTS[component](SPEC, within(world, frozenset({""})), REF)
    assert _rest(alone) == _rest(whole), component
