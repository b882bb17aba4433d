"""The probes' permissions are a separate, opt-in part of the chart (issue 14.5): off by default, least
privilege, no wildcards, and exactly what the probes' requests need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "aiconform"
TEMPLATE = CHART / "templates" / "rbac-probes.yaml"
PROBES = Path(__file__).resolve().parents[2] / "operator" / "aiconform" / "probes"


def rules() -> list[dict[str, Any]]:
    text = TEMPLATE.read_text()
    block = text[text.index("\nrules:\n") : text.index("\n---\n")]
    assert "{{" not in block, "keep the rules free of template actions"
    out: list[dict[str, Any]] = yaml.safe_load(block)["rules"]
    return out


def granted() -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules():
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_opt_in_and_off_by_default() -> None:
    assert TEMPLATE.read_text().startswith("{{- if and .Values.rbac.create .Values.probes.enabled }}")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["probes"] == {"enabled": False}
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["probes"]["additionalProperties"] is False


def test_least_privilege() -> None:
    flat = json.dumps(rules())
    assert "*" not in flat and "nonResourceURLs" not in flat
    perms = granted()
    never = {"escalate", "bind", "impersonate", "update", "deletecollection", "watch"}
    assert not any(never & verbs for verbs in perms.values())
    assert not any(resource == "secrets" for _, resource in perms)
    # Deleting is granted only where a probe deletes by itself: its namespace, its cluster-scoped queues and the
    # custom resource whose clean deletion robust_controller tests.
    deleters = {key for key, verbs in perms.items() if "delete" in verbs}
    assert deleters == {
        ("", "namespaces"),
        ("kueue.x-k8s.io", "resourceflavors"),
        ("kueue.x-k8s.io", "clusterqueues"),
        ("ray.io", "rayclusters"),
        ("leaderworkerset.x-k8s.io", "leaderworkersets"),
    }


def test_every_collection_the_probes_write_is_granted() -> None:
    """Each REST collection a probe POSTs to or PATCHes appears in the role (read off the probes' source)."""
    source = "\n".join(p.read_text() for p in PROBES.glob("*.py"))
    perms = granted()
    for group, resource in [
        ("", "namespaces"),
        ("", "resourcequotas"),
        ("", "pods"),
        ("batch", "jobs"),
        ("resource.k8s.io", "resourceclaimtemplates"),
        ("resource.k8s.io", "resourceclaims"),
        ("kueue.x-k8s.io", "resourceflavors"),
        ("kueue.x-k8s.io", "clusterqueues"),
        ("kueue.x-k8s.io", "localqueues"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("keda.sh", "scaledobjects"),
        ("", "services"),
        ("gateway.networking.k8s.io", "gateways"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("ray.io", "rayclusters"),
        ("leaderworkerset.x-k8s.io", "leaderworkersets"),
    ]:
        assert re.search(rf"/{resource}\b", source), resource
        assert "create" in perms[(group, resource)], (group, resource)
    assert "patch" in perms[("kueue.x-k8s.io", "clusterqueues")]
    assert perms[("kueue.x-k8s.io", "workloads")] == {"get", "list"}
    # What a probe only reads back or deletes is granted exactly.
    assert perms[("autoscaling", "horizontalpodautoscalers")] == {"get", "create"}
    assert perms[("ray.io", "rayclusters")] == {"get", "create", "delete"}
    assert perms[("leaderworkerset.x-k8s.io", "leaderworkersets")] == {"get", "create", "delete"}
    assert perms[("apps", "deployments")] == {"get", "list", "create"}
