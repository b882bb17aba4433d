"""NetworkPolicies: isolate tenant namespaces from each other, keeping what AI workloads need.

Objects, in every tenant namespace (all select every pod, `podSelector: {}`):
- `aiconform-default-deny`: Ingress and Egress with no rule — nothing in, nothing out;
- `aiconform-allow-dns`: egress to the cluster DNS (pods `k8s-app=kube-dns` in kube-system) on UDP and TCP 53;
- `aiconform-allow-same-namespace`: ingress from and egress to pods of the same namespace;
- `aiconform-allow-monitoring`: ingress from every pod of `monitoringNamespace` (Prometheus scrapes);
- `aiconform-allow-gateway`: ingress from every pod of `gatewayNamespace`, only when it is set.
Namespaces are matched by `kubernetes.io/metadata.name`, which the API server sets and users cannot forge.

With `defaultDeny: false` nothing is made (and a note says so): in Kubernetes, any policy that selects a pod
isolates it for the policy's directions, so the allow policies alone would deny everything else just the same
— there is no "allow-only" NetworkPolicy. Egress to the API server, other namespaces and the internet (model
downloads) is denied under default-deny; add policies of your own for them.
"""

from __future__ import annotations

from typing import Any

from aiconform.api.models import NetworkPoliciesSpec, ProfileSpec
from aiconform.components._common import (
    LABEL_NS_NAME,
    NAME_PREFIX,
    Manifest,
    Plan,
    ProfileRef,
    make_plan,
    manifest,
    object_meta,
    tenant_namespaces,
)
from aiconform.kube.snapshot import Snapshot

COMPONENT = "networkPolicies"
DEFAULT_DENY = f"{NAME_PREFIX}default-deny"
ALLOW_DNS = f"{NAME_PREFIX}allow-dns"
ALLOW_SAME_NAMESPACE = f"{NAME_PREFIX}allow-same-namespace"
ALLOW_MONITORING = f"{NAME_PREFIX}allow-monitoring"
ALLOW_GATEWAY = f"{NAME_PREFIX}allow-gateway"
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {LABEL_NS_NAME: "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def _from_namespace(ns: str) -> list[dict[str, Any]]:
    return [{"from": [{"namespaceSelector": {"matchLabels": {LABEL_NS_NAME: ns}}}]}]


def policy_specs(np: NetworkPoliciesSpec) -> dict[str, dict[str, Any]]:
    """Policy name → spec, the same for every tenant namespace."""
    specs: dict[str, dict[str, Any]] = {
        DEFAULT_DENY: {"policyTypes": ["Ingress", "Egress"]},
        ALLOW_DNS: {
            "policyTypes": ["Egress"],
            "egress": [{"to": [DNS_PEER], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
        },
        ALLOW_SAME_NAMESPACE: {
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        ALLOW_MONITORING: {"policyTypes": ["Ingress"], "ingress": _from_namespace(np.monitoring_namespace)},
    }
    if np.gateway_namespace:
        specs[ALLOW_GATEWAY] = {"policyTypes": ["Ingress"], "ingress": _from_namespace(np.gateway_namespace)}
    return {name: {"podSelector": {}, **body} for name, body in specs.items()}


def network_policy(policy_name: str, namespace: str, policy_spec: dict[str, Any], ref: ProfileRef) -> Manifest:
    return manifest("NetworkPolicy", object_meta(ref, COMPONENT, policy_name, namespace), spec=policy_spec)


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    np = spec.components.network_policies
    if not np.default_deny:
        return make_plan(
            notes=[
                "networkPolicies.defaultDeny is false: no NetworkPolicy created (an allow policy alone would "
                "isolate the pods it selects just like a deny)"
            ]
        )
    specs = policy_specs(np)
    return make_plan(
        network_policy(policy_name, ns, policy_spec, ref)
        for ns in tenant_namespaces(spec, snapshot)
        for policy_name, policy_spec in specs.items()
    )
