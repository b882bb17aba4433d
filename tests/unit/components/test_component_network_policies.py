"""NetworkPolicies component: default deny plus DNS, same-namespace, monitoring and gateway allows per tenant."""

from __future__ import annotations

from compbuilders import REF, assert_golden, enabled, names, profile, two_tenants

from aiconform.components import network_policies as np


def test_golden_with_gateway() -> None:
    spec = profile(components=enabled(networkPolicies={"gatewayNamespace": "gateway", "monitoringNamespace": "obs"}))
    plan = np.plan(spec, two_tenants(), REF)
    assert names(plan) == [
        f"{ns}/aiconform-{p}"
        for ns in ("team-a", "team-b")
        for p in ("allow-dns", "allow-gateway", "allow-monitoring", "allow-same-namespace", "default-deny")
    ]
    assert_golden("networkPolicies-gateway", plan)


def test_golden_default() -> None:
    plan = np.plan(profile(components=enabled("networkPolicies")), two_tenants(), REF)
    assert "team-a/aiconform-allow-gateway" not in names(plan)
    assert_golden("networkPolicies-default", plan)


def test_every_policy_selects_every_pod_and_peers_by_namespace_name() -> None:
    plan = np.plan(profile(components=enabled(networkPolicies={"gatewayNamespace": "gw"})), two_tenants(), REF)
    for policy in plan.objects:
        assert policy["spec"]["podSelector"] == {}
    monitoring = next(o for o in plan.objects if o["metadata"]["name"] == np.ALLOW_MONITORING)
    peer = monitoring["spec"]["ingress"][0]["from"][0]
    assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def test_without_default_deny_nothing_and_a_note() -> None:
    plan = np.plan(profile(components=enabled(networkPolicies={"defaultDeny": False})), two_tenants(), REF)
    assert plan.objects == () and "defaultDeny is false" in plan.notes[0]
