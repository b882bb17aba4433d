"""Properties every plan holds, whatever the component: ownership metadata, valid names, the right scope, no
profile labels, determinism, disabled components empty; and the package's contract (order, kinds)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
import yaml
from compbuilders import (
    COMPONENT_NAMES,
    INFERENCE,
    REF,
    all_objects,
    deployment,
    enabled,
    hpa,
    namespace,
    ours,
    profile,
    scaled_object,
    two_tenants,
)

from aiconform.api.constants import API_VERSION, KIND
from aiconform.api.models import ConformanceProfile, ProfileSpec
from aiconform.components import COMPONENTS, EMPTY_PLAN, apply_order, desired
from aiconform.components._common import is_dns1123_label, is_dns1123_subdomain
from aiconform.kube import client as kube_client
from aiconform.kube.kinds import FIELD_PATCH_KINDS
from aiconform.kube.kinds import managed_kind as kind_info
from aiconform.kube.snapshot import Snapshot

EVERYTHING: dict[str, Any] = enabled(
    "kueue",
    "keda",
    "seccomp",
    dra={"kubeletPlugin": {"enabled": True, "image": "example.com/dra:v1"}},
    dcgmExporter={"collectors": ["xid", "nvlink"]},
    quotas={"draDevicesPerTenant": 2},
    networkPolicies={"gatewayNamespace": "gateway"},
)
ALL_ON = profile(components=EVERYTHING)


def _world() -> Snapshot:
    return two_tenants(
        deployments=[
            deployment("team-a", "vllm", INFERENCE),
            deployment("team-b", "has-hpa", INFERENCE),
            deployment("team-b", "foreign", INFERENCE),
        ],
        hpas=[hpa("team-b", "has-hpa", "has-hpa")],
        custom={"scaledobjects.keda.sh": [scaled_object("team-b", "x", "foreign")]},
    )


@pytest.fixture(scope="module")
def plans() -> dict[str, Any]:
    return desired(ALL_ON, _world(), REF)


def test_components_in_fixed_order_and_all_produce(plans: dict[str, Any]) -> None:
    assert tuple(COMPONENTS) == COMPONENT_NAMES
    assert tuple(plans) == COMPONENT_NAMES
    for component, plan in plans.items():
        assert plan.objects, component


def test_every_object_carries_ownership(plans: dict[str, Any]) -> None:
    for component, plan in plans.items():
        for obj in plan.objects:
            meta = obj["metadata"]
            assert meta["labels"].items() >= ours(component).items(), (component, meta["name"])
            assert meta["ownerReferences"] == [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": REF.name,
                    "uid": REF.uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ]


def test_field_patches_carry_no_ownership(plans: dict[str, Any]) -> None:
    patches = [p for plan in plans.values() for p in plan.field_patches]
    assert patches
    for patch in patches:
        assert patch["kind"] in FIELD_PATCH_KINDS
        assert "ownerReferences" not in patch["metadata"]
        assert not {"app.kubernetes.io/managed-by", "aiconform.io/profile"} & set(patch["metadata"]["labels"])


def test_no_profile_label_is_copied() -> None:
    doc = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": REF.name, "labels": {"argocd.argoproj.io/instance": "platform", "team": "ml"}},
        "spec": {"components": EVERYTHING},
    }
    cp = ConformanceProfile.model_validate(doc)
    for obj in all_objects(desired(cp.spec, _world(), REF)):
        labels = obj["metadata"]["labels"]
        assert "argocd.argoproj.io/instance" not in labels and "team" not in labels


def test_names_are_valid_and_scope_is_right(plans: dict[str, Any]) -> None:
    for obj in all_objects(plans):
        meta, info = obj["metadata"], kind_info(obj["kind"])
        assert obj["apiVersion"] == info.api_version
        assert ("namespace" in meta) == info.namespaced, obj["kind"]
        check = is_dns1123_label if obj["kind"] in ("Namespace", "Service") else is_dns1123_subdomain
        assert check(meta["name"]), meta["name"]
        if info.namespaced:
            assert is_dns1123_label(meta["namespace"])


def test_cluster_scoped_names_are_prefixed_unless_a_contract(plans: dict[str, Any]) -> None:
    contracts = {"DeviceClass", "ResourceFlavor", "ClusterQueue"}  # vendor, cluster or user names
    for obj in all_objects(plans):
        if not kind_info(obj["kind"]).namespaced and obj["kind"] not in contracts:
            assert obj["metadata"]["name"].startswith("aiconform-"), obj["metadata"]["name"]


def test_every_kind_produced_is_a_managed_kind_the_client_can_address(plans: dict[str, Any]) -> None:
    for obj in all_objects(plans):
        info = kind_info(obj["kind"])
        assert info.managed and obj["apiVersion"] == info.api_version, obj["kind"]
        assert kube_client.path_for(obj).endswith(f"/{info.plural}/{obj['metadata']['name']}")


def test_objects_are_in_apply_order_namespaces_first(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        assert list(plan.objects) == apply_order(plan.objects)
    ordered = apply_order(all_objects(plans))
    kinds = [o["kind"] for o in ordered]
    assert kinds[: kinds.count("Namespace")] == ["Namespace"] * kinds.count("Namespace")
    assert kinds.index("ValidatingAdmissionPolicy") < kinds.index("ValidatingAdmissionPolicyBinding")
    assert kinds.index("ClusterQueue") < kinds.index("LocalQueue")


def test_disabled_components_are_empty() -> None:
    for plan in desired(ProfileSpec(), _world(), REF).values():
        assert plan == EMPTY_PLAN
    for component in COMPONENT_NAMES:
        only = {c: {"enabled": c == component} for c in COMPONENT_NAMES}
        plans = desired(profile(components=only), _world(), REF)
        assert [c for c, p in plans.items() if p != EMPTY_PLAN] == [component]


def test_output_is_deterministic_whatever_the_snapshot_order() -> None:
    world = _world()
    rng = random.Random(7)

    def shuffled(items: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)

    other = replace(
        world,
        nodes=shuffled(world.nodes),
        namespaces=shuffled(world.namespaces),
        deployments=shuffled(world.deployments),
        resource_slices=shuffled(world.resource_slices),
    )
    assert desired(ALL_ON, world, REF) == desired(ALL_ON, other, REF)


def test_no_shared_structures_between_objects(plans: dict[str, Any]) -> None:
    text = yaml.safe_dump([list(p.objects) + list(p.field_patches) for p in plans.values()])
    assert "&id" not in text  # YAML anchors would mean two objects share a nested dict


def test_keda_skips_hpa_and_foreign_scaled_object_and_reports(plans: dict[str, Any]) -> None:
    keda = plans["keda"]
    assert [o["metadata"]["name"] for o in keda.objects] == ["vllm"]
    assert keda.skipped == ("ScaledObject/team-b/foreign", "ScaledObject/team-b/has-hpa")
    assert len(keda.notes) == 2


def test_terminating_tenant_gets_nothing() -> None:
    world = two_tenants()
    world = replace(world, namespaces=(*world.namespaces, namespace("team-c", {"aiconform.io/tenant": "true"}, True)))
    for obj in all_objects(desired(ALL_ON, world, REF)):
        assert obj["metadata"].get("namespace") != "team-c"
