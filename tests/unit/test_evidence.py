"""The one rule every verdict passes through: Implemented needs live evidence, hardware-only parts stay Partial,
a declaration never hides what the cluster shows."""

from __future__ import annotations

import pytest

from aiconform.api.models import validate_profile
from aiconform.conformance import evidence
from aiconform.conformance.evaluate import evaluate
from aiconform.conformance.verdict import Verdict, condition_status
from aiconform.kube.snapshot import Snapshot


def _v(requirement: str = "gang_scheduling", tier: str = "APIPresence", **kw: object) -> Verdict:
    return Verdict(requirement, "Implemented", "APIVerified", "ClusterQueue gpu", tier=tier, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tier", ["Observed", "ControllerStatus"])
def test_live_evidence_keeps_implemented(tier: str) -> None:
    assert evidence.enforce(_v(tier=tier)).status == "Implemented"


def test_presence_alone_is_at_most_partial_and_says_what_is_missing() -> None:
    v = evidence.enforce(_v())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "status written by the controller" in v.message and condition_status(v) == "Unknown"
    assert evidence.enforce(v) == v  # idempotent


def test_hardware_only_parts_stay_partial_unless_observed() -> None:
    v = evidence.enforce(_v("secure_accelerator_access", "ControllerStatus"))
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert evidence.enforce(_v("secure_accelerator_access", "Observed")).status == "Implemented"


def _spec(requirements: dict[str, object]) -> object:
    doc = {"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "metadata": {"name": "p"}}
    return validate_profile({**doc, "spec": {"requirements": requirements}}).spec


def test_a_declaration_never_hides_what_the_cluster_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    fault = "Pod team-a/x runs privileged with hostPath /dev"
    checked = Verdict(
        "secure_accelerator_access", "Not Implemented", "InsecureAcceleratorAccess", "1 pod", faults=(fault,)
    )
    monkeypatch.setattr(
        "aiconform.conformance.evaluate.CHECKS", {"secure_accelerator_access": lambda s, p: checked}, raising=True
    )
    spec = _spec({"secure_accelerator_access": {"status": "Implemented", "notes": "isolation tested"}})
    v = evaluate(Snapshot(api_resources=frozenset({"v1/pods"})), spec, "v1.36").verdict("secure_accelerator_access")  # type: ignore[arg-type]
    assert v is not None
    assert (v.status, v.reason) == ("Not Implemented", "DeclarationContradicted")
    assert fault in v.message and v.declared


def test_a_declaration_fills_in_what_the_api_cannot_show() -> None:
    declared = Verdict("cluster_autoscaling", "N/A", "Declared", "on-prem", declared=True, tier="Declared")
    checked = Verdict("cluster_autoscaling", "Not Implemented", "NoAutoscaler", "none found")
    assert evidence.weigh_declaration(declared, checked).status == "N/A"
    strong = _v("gang_scheduling", "ControllerStatus")
    said = Verdict("gang_scheduling", "Implemented", "Declared", "Kueue", declared=True, tier="Declared")
    assert evidence.weigh_declaration(said, strong) == strong  # the check's live evidence is the better record


def test_a_declaration_never_stands_in_for_what_could_not_be_read() -> None:
    """Cannot-see is not "the API cannot show it": the declaration is named, not taken (condition Unknown)."""
    declared = Verdict("secure_accelerator_access", "Implemented", "Declared", "tested", declared=True, tier="Declared")
    blind = Verdict("secure_accelerator_access", "Not Implemented", "Unreadable", "pods: forbidden (needs list)")
    v = evidence.enforce(evidence.weigh_declaration(declared, blind))
    assert (v.status, v.reason, v.declared) == ("Not Implemented", "Unreadable", True)
    assert "declares Implemented, not taken" in v.message and condition_status(v) == "Unknown"
