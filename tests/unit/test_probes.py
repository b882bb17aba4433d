"""The pure parts of the probes: transcript, verdict from a run, leftovers and prefix rules, and the merge of
probe verdicts over the checks' (conformance/probemerge.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiconform.checker.report.evidence_md import transcripts_of
from aiconform.conformance.evaluate import Evaluation
from aiconform.conformance.probemerge import merge_evaluation, merge_verdict
from aiconform.conformance.verdict import (
    BEHAVIOUR_OBSERVED,
    IMPLEMENTED,
    INSECURE_ACCELERATOR_ACCESS,
    NEEDS_HARDWARE_TEST,
    NOT_IMPLEMENTED,
    PARTIAL,
    PRESENCE_ONLY,
    PROBE_FAILED,
    PROBE_NAMESPACE_REFUSED,
    PROBE_NOT_PERMITTED,
    PROBE_TIMED_OUT,
    Verdict,
    condition_status,
)
from aiconform.kube.client import KubeApiError
from aiconform.probes.record import (
    Record,
    foreign_objects,
    leftovers,
    namespace_name,
    prefix_problem,
    render_transcript,
    verdict_of,
)
from aiconform.probes.sandbox import StepTimedOut, is_rbac_denial, shown
from aiconform.probes.secure import judge

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OURS = {"app.kubernetes.io/managed-by": "aiconform", "aiconform.io/probe": "gang-scheduling"}


def ns(name: str, labels: dict[str, str] | None = None, age: float = 3600, **meta: Any) -> dict[str, Any]:
    created = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}, "creationTimestamp": created, **meta},
    }


def gang_record(outcome: str = "observed", **kw: Any) -> Record:
    record = Record(probe="gang_scheduling", started="2026-01-01T12:00:00Z", namespace="aiconform-probe-gang-abc")
    record.step("create Namespace aiconform-probe-gang-abc", 0.01, 0.02)
    record.step("Kueue marks the ClusterQueue Active", 0.1, 1.5, detail="Active=True")
    record.objects += ["Namespace aiconform-probe-gang-abc", "ClusterQueue aiconform-probe-gang-abc"]
    record.cleanup.append("deleted Namespace aiconform-probe-gang-abc (0.1s)")
    record.outcome = outcome  # type: ignore[assignment]
    record.message = "seen"
    record.duration = 4.2
    for key, value in kw.items():
        setattr(record, key, value)
    return record


# --- transcript and verdict -------------------------------------------------------------------------------------


def test_transcript_is_readable() -> None:
    text = render_transcript(gang_record())
    lines = text.splitlines()
    assert lines[0] == "probe gang_scheduling started 2026-01-01T12:00:00Z"
    assert "sandbox namespace: aiconform-probe-gang-abc" in lines
    assert any("ok   Kueue marks the ClusterQueue Active" in line and "+  1.50s" in line for line in lines)
    assert "        Active=True" in lines
    assert "objects made: Namespace aiconform-probe-gang-abc, ClusterQueue aiconform-probe-gang-abc" in lines
    assert any(line.startswith("result after 4.2s: Implemented (BehaviourObserved): seen") for line in lines)
    assert lines[-1] == "cleanup: deleted Namespace aiconform-probe-gang-abc (0.1s)"


def test_failed_step_is_marked() -> None:
    record = gang_record("timed_out")
    record.step("Kueue admits the Job", 2.0, 60.0, ok=False, detail="Admitted=False")
    assert "FAIL Kueue admits the Job" in render_transcript(record)


@pytest.mark.parametrize(
    ("outcome", "status", "reason", "tier", "condition"),
    [
        ("observed", IMPLEMENTED, BEHAVIOUR_OBSERVED, "Observed", "True"),
        ("failed", NOT_IMPLEMENTED, PROBE_FAILED, "Observed", "False"),
        ("timed_out", NOT_IMPLEMENTED, PROBE_TIMED_OUT, "APIPresence", "Unknown"),
        ("cannot_run", NOT_IMPLEMENTED, "ProbeCannotRun", "APIPresence", "Unknown"),
        ("not_permitted", NOT_IMPLEMENTED, PROBE_NOT_PERMITTED, "APIPresence", "Unknown"),
        ("namespace_refused", NOT_IMPLEMENTED, PROBE_NAMESPACE_REFUSED, "APIPresence", "Unknown"),
    ],
)
def test_verdict_from_outcome(outcome: str, status: str, reason: str, tier: str, condition: str) -> None:
    verdict = verdict_of(gang_record(outcome), with_transcript=True)
    assert (verdict.requirement, verdict.status, verdict.reason, verdict.tier) == (
        "gang_scheduling",
        status,
        reason,
        tier,
    )
    assert condition_status(verdict) == condition
    assert len(verdict.transcript) == 1 and verdict.transcript[0].startswith("probe gang_scheduling")


def test_a_status_override_only_applies_to_what_was_observed() -> None:
    partial = verdict_of(gang_record("observed", status=PARTIAL, reason=NEEDS_HARDWARE_TEST))
    assert (partial.status, partial.reason, partial.tier) == (PARTIAL, NEEDS_HARDWARE_TEST, "Observed")
    timed = verdict_of(gang_record("timed_out", status=PARTIAL))
    assert timed.status == NOT_IMPLEMENTED


def test_timeout_names_the_step() -> None:
    end = StepTimedOut("Kueue admits the Job whole", 60.2, "Admitted=False")
    assert end.outcome == "timed_out"
    assert end.message == "timed out after 60s waiting for: Kueue admits the Job whole (last seen: Admitted=False)"


def test_export_bundle_renders_the_transcript() -> None:
    verdict = verdict_of(gang_record(), with_transcript=True)
    (title, text), *rest = transcripts_of(verdict)
    assert not rest and title == "Probe 1" and "Kueue marks the ClusterQueue Active" in text


def test_shown() -> None:
    assert shown(True) == "" and shown("claim-x") == "claim-x" and shown(["a", "b"]) == "a\nb"


# --- leftovers, namespaces, prefixes ----------------------------------------------------------------------------


def test_leftovers_are_ours_old_and_not_going() -> None:
    objects = [
        ns("old", OURS, age=3600),
        ns("young", OURS, age=10),  # a run still going (check --probe next to the operator)
        ns("going", OURS, age=3600, deletionTimestamp="2026-01-01T11:59:00Z"),
        ns("tenant", {"app.kubernetes.io/managed-by": "aiconform"}, age=3600),  # ours, but not a probe's
        ns("foreign", {"aiconform.io/probe": "gang-scheduling"}, age=3600),  # not labelled managed-by us
    ]
    assert [o["metadata"]["name"] for o in leftovers(objects, NOW, grace=240)] == ["old"]


def test_foreign_objects_in_a_probe_namespace() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "x", "labels": OURS}}
    made = {"kind": "Pod", "metadata": {"name": "gang-1", "namespace": "x", "ownerReferences": [{"kind": "Job"}]}}
    theirs = {"kind": "Pod", "metadata": {"name": "web", "namespace": "x", "labels": {"app": "web"}}}
    assert foreign_objects([pod, made]) == []
    assert foreign_objects([pod, theirs]) == ["Pod x/web"]


def test_prefix_selecting_a_tenant_or_foreign_namespace_is_refused() -> None:
    spaces = [ns("team-a", {}), ns("aiconform-probe-gang-1", OURS), ns("kube-system")]
    assert prefix_problem("aiconform-probe-", spaces, {"team-a"}) is None
    tenant = prefix_problem("team-", spaces, {"team-a"})
    assert tenant is not None and "a tenant namespace (team-a)" in tenant
    system = prefix_problem("kube-", spaces, set())
    assert system is not None and "no probe made (kube-system)" in system
    # A tenant namespace that carries our labels (someone copied them) is still a tenant's.
    copied = prefix_problem("aiconform-probe-", spaces, {"aiconform-probe-gang-1"})
    assert copied is not None and "tenant" in copied


def test_namespace_name_is_a_dns_label() -> None:
    assert namespace_name("aiconform-probe-", "gang_scheduling", "a1b2c3") == "aiconform-probe-gang-a1b2c3"
    assert namespace_name("p-", "secure_accelerator_access", "x") == "p-secure-x"
    assert len(namespace_name("a" * 31, "dra_support", "a1b2c3")) <= 63


def test_rbac_denial_is_told_from_an_admission_refusal() -> None:
    rbac = KubeApiError(403, 'pods is forbidden: User "system:serviceaccount:x:y" cannot create resource "pods"')
    psa = KubeApiError(403, 'pods "p" is forbidden: violates PodSecurity "restricted:latest": privileged')
    assert is_rbac_denial(rbac) and not is_rbac_denial(psa)
    assert judge(psa) == "refused"
    assert judge(KubeApiError(422, "ResourceClaim is invalid: adminAccess: Forbidden")) == "refused"
    assert judge(None) == "admitted"
    assert judge(KubeApiError(403, 'pods "p" is forbidden: exceeded quota: q')) == "inconclusive"
    assert judge(KubeApiError(500, "etcd timeout")) == "inconclusive"


# --- merge ------------------------------------------------------------------------------------------------------


def check(status: str, reason: str = "APIVerified", tier: str = "APIPresence", **kw: Any) -> Verdict:
    return Verdict("gang_scheduling", status, reason, "the check", tier=tier, **kw)  # type: ignore[arg-type]


def probe(outcome: str, **kw: Any) -> Verdict:
    return verdict_of(gang_record(outcome, **kw), with_transcript=True)


def test_observed_implemented_replaces_presence_only() -> None:
    merged = merge_verdict(check(PARTIAL, PRESENCE_ONLY), probe("observed"))
    assert (merged.status, merged.reason, merged.tier) == (IMPLEMENTED, BEHAVIOUR_OBSERVED, "Observed")
    assert merged.transcript


@pytest.mark.parametrize("outcome", ["timed_out", "cannot_run", "not_permitted", "namespace_refused"])
def test_an_inconclusive_probe_never_changes_the_status(outcome: str) -> None:
    before = check(PARTIAL, PRESENCE_ONLY)
    merged = merge_verdict(before, probe(outcome))
    assert (merged.status, merged.reason, merged.tier) == (before.status, before.reason, before.tier)
    assert merged.message.startswith("the check; probe: seen") and merged.transcript


def test_a_failed_probe_never_upgrades_but_disproves() -> None:
    low = check(NOT_IMPLEMENTED, "ControllerUnavailable")
    kept = merge_verdict(low, probe("failed"))
    assert (kept.status, kept.reason) == (NOT_IMPLEMENTED, "ControllerUnavailable")
    high = check(IMPLEMENTED, tier="ControllerStatus")
    disproved = merge_verdict(high, probe("failed"))
    assert (disproved.status, disproved.reason, disproved.tier) == (NOT_IMPLEMENTED, PROBE_FAILED, "Observed")
    assert "the check said Implemented" in disproved.message
    declared = merge_verdict(check(IMPLEMENTED, "Declared", tier="Declared", declared=True), probe("failed"))
    assert declared.status == NOT_IMPLEMENTED and "declares Implemented, but a probe contradicts it" in declared.message


def test_a_probe_never_hides_faults_or_lowers_what_is_proven() -> None:
    faulty = check(NOT_IMPLEMENTED, INSECURE_ACCELERATOR_ACCESS, faults=("Pod t/x runs privileged",))
    assert merge_verdict(faulty, probe("observed")).status == NOT_IMPLEMENTED
    proven = check(IMPLEMENTED, tier="ControllerStatus")
    lower = probe("observed", status=PARTIAL, reason=NEEDS_HARDWARE_TEST)
    assert merge_verdict(proven, lower).status == IMPLEMENTED
    na = check("N/A", "Declared", tier="Declared", declared=True)
    assert merge_verdict(na, probe("observed")).status == "N/A"


def test_secure_probe_keeps_needs_hardware_test() -> None:
    before = dataclasses.replace(check(PARTIAL, NEEDS_HARDWARE_TEST), requirement="secure_accelerator_access")
    record = gang_record("observed", status=PARTIAL, reason=NEEDS_HARDWARE_TEST, probe="secure_accelerator_access")
    merged = merge_verdict(before, verdict_of(record))
    assert (merged.status, merged.reason, merged.tier) == (PARTIAL, NEEDS_HARDWARE_TEST, "Observed")
    # Observed Implemented on a requirement with a hardware part is what enforce lets through only for a probe
    # that observed it all; the policy probe never claims that.


def test_merge_evaluation_retallies() -> None:
    verdicts = (
        check(PARTIAL, PRESENCE_ONLY),
        Verdict("dra_support", IMPLEMENTED, "APIVerified", "ok", tier="ControllerStatus"),
    )
    evaluation = Evaluation(
        version="v1.35",
        verdicts=verdicts,
        levels={"gang_scheduling": "MUST", "dra_support": "MUST"},
        categories={},
        must_met=1,
        must_total=2,
        should_met=0,
        should_total=0,
        conformant=False,
    )
    merged = merge_evaluation(evaluation, [probe("observed"), probe("observed", probe="unknown_requirement")])
    assert merged.conformant and merged.must_met == 2
    assert merge_evaluation(evaluation, []) is evaluation
