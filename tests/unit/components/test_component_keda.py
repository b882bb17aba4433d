"""KEDA component: a ScaledObject per matching inference Deployment; HPA-scaled and foreign-scaled ones are
skipped and reported; nothing without the CRD."""

from __future__ import annotations

from compbuilders import (
    INFERENCE,
    REF,
    assert_golden,
    deployment,
    enabled,
    hpa,
    names,
    ours,
    owned,
    profile,
    scaled_object,
    two_tenants,
)

from aiconform.components import ProfileRef, keda
from aiconform.kube.snapshot import Snapshot

SO = "scaledobjects.keda.sh"
ON = profile(components=enabled("keda"))


def _world() -> Snapshot:
    deployments = [
        deployment("team-a", "vllm", INFERENCE),
        deployment("team-a", "web"),  # not inference
        deployment("team-b", "llama.serve", INFERENCE),
        deployment("team-b", "has-hpa", INFERENCE),
        deployment("team-b", "has-foreign-so", INFERENCE),
        deployment("team-b", "has-keda-hpa", INFERENCE),
        deployment("team-b", "going-away", INFERENCE, deleting=True),
        deployment("other", "vllm", INFERENCE),  # not a tenant
    ]
    hpas = [
        hpa("team-b", "manual", "has-hpa"),
        hpa("team-b", "keda-hpa-has-keda-hpa", "has-keda-hpa", owner_kind="ScaledObject"),
        hpa("team-a", "elsewhere", "vllm-other"),
    ]
    scaled = [
        scaled_object("team-b", "someones", "has-foreign-so"),
        owned(scaled_object("team-b", "has-keda-hpa", "has-keda-hpa", ours("keda"))),
    ]
    return two_tenants(deployments=deployments, hpas=hpas, custom={SO: scaled})


def test_golden_default() -> None:
    plan = keda.plan(ON, _world(), REF)
    assert names(plan) == ["team-a/vllm", "team-b/has-keda-hpa", "team-b/llama.serve"]
    assert plan.skipped == ("ScaledObject/team-b/has-foreign-so", "ScaledObject/team-b/has-hpa")
    assert_golden("keda-default", plan)


def test_skips_are_reported() -> None:
    plan = keda.plan(ON, _world(), REF)
    assert "Deployment team-b/has-hpa has an HPA (manual): no ScaledObject created" in plan.notes
    assert any("team-b/has-foreign-so" in n and "someones" in n for n in plan.notes)


STAGING = ProfileRef("staging", "7d4b1b5e-0000-4000-8000-000000000002")


def test_another_profiles_scaled_object_is_foreign() -> None:
    world = two_tenants(
        deployments=[deployment("team-a", "vllm", INFERENCE)],
        custom={
            SO: [owned(scaled_object("team-a", "vllm", "vllm", ours("keda", "staging")), ProfileRef("staging", "u2"))]
        },
    )
    plan = keda.plan(ON, world, REF)
    assert plan.objects == () and plan.skipped == ("ScaledObject/team-a/vllm",)


def test_our_labels_without_our_owner_reference_do_not_make_it_ours() -> None:
    """Labels are copied by other controllers (and by users): a labelled ScaledObject we did not create is foreign."""
    world = two_tenants(
        deployments=[deployment("team-a", "vllm", INFERENCE)],
        custom={SO: [scaled_object("team-a", "vllm", "vllm", ours("keda"))]},
    )
    plan = keda.plan(ON, world, REF)
    assert plan.objects == () and plan.skipped == ("ScaledObject/team-a/vllm",)


def test_golden_settings() -> None:
    spec = profile(
        components=enabled(
            keda={
                "metric": "vllm:num_requests_running",
                "prometheusAddress": "http://prom.obs.svc:9090/prometheus",
                "threshold": 2.5,
                "activationThreshold": 1,
                "minReplicas": 1,
                "maxReplicas": 4,
                "cooldownSeconds": 60,
                "inferenceSelector": {"matchExpressions": [{"key": "serving", "operator": "Exists"}]},
            }
        )
    )
    world = two_tenants(
        deployments=[deployment("team-a", "tgi", {"serving": "tgi"}), deployment("team-a", "vllm", INFERENCE)]
    )
    plan = keda.plan(spec, world, REF)
    assert names(plan) == ["team-a/tgi"]
    trigger = plan.objects[0]["spec"]["triggers"][0]["metadata"]
    assert (trigger["threshold"], trigger["activationThreshold"]) == ("2.5", "1")
    assert_golden("keda-settings", plan)


def test_query_sums_the_deployments_pods_only() -> None:
    assert keda.promql("m", "ns", "a.b") == 'sum(m{namespace="ns",pod=~"a\\\\.b-[a-z0-9]+-[a-z0-9]+"})'


def test_crds_missing_makes_nothing() -> None:
    world = two_tenants(deployments=[deployment("team-a", "vllm", INFERENCE)], crds=())
    plan = keda.plan(ON, world, REF)
    assert plan.objects == () and plan.notes[0].startswith("KEDA CRDs not installed")
