"""Seccomp component: Pod Security labels on tenant namespaces (field patches) and the RuntimeDefault policy."""

from __future__ import annotations

import pytest
from compbuilders import REF, assert_golden, enabled, profile, two_tenants

from aiconform.components import seccomp


@pytest.mark.parametrize(
    ("enforcement", "level", "mode"),
    [("Deny", "restricted", "enforce"), ("Warn", "baseline", "warn"), ("Audit", "restricted", "audit")],
)
def test_golden_per_enforcement(enforcement: str, level: str, mode: str) -> None:
    spec = profile(components=enabled(seccomp={"enforcement": enforcement, "podSecurityLevel": level}))
    plan = seccomp.plan(spec, two_tenants(), REF)
    assert [p["metadata"] for p in plan.field_patches] == [
        {
            "name": ns,
            "labels": {
                f"pod-security.kubernetes.io/{mode}": level,
                f"pod-security.kubernetes.io/{mode}-version": "latest",
            },
        }
        for ns in ("team-a", "team-b")
    ]
    binding = plan.objects[-1]
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"]["validationActions"] == [enforcement]
    assert_golden(f"seccomp-{enforcement.lower()}", plan)


def test_field_patches_carry_no_ownership() -> None:
    plan = seccomp.plan(profile(components=enabled("seccomp")), two_tenants(), REF)
    for patch in plan.field_patches:
        assert set(patch) == {"apiVersion", "kind", "metadata"}
        assert set(patch["metadata"]) == {"name", "labels"}
        assert not [k for k in patch["metadata"]["labels"] if not k.startswith("pod-security.kubernetes.io/")]


def test_policy_checks_every_container_kind_and_the_pod_default() -> None:
    policy = seccomp.plan(profile(components=enabled("seccomp")), two_tenants(), REF).objects[0]
    offenders = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "offenders")
    for field in ("containers", "initContainers", "ephemeralContainers"):
        assert f"object.spec.{field}.filter" in offenders
    assert "variables.podProfileOk" in offenders
    assert "'" not in seccomp.MESSAGE  # spliced into a CEL string literal
