"""build_status is truthful (never Conformant=True without checks) and stable (same input, no write)."""

from __future__ import annotations

from typing import Any

import pytest

from aiconform.conformance.catalog import resolve_version
from aiconform.operator.conditions import is_camel_case
from aiconform.operator.status import (
    OWNED_KEYS,
    SpecError,
    SpecFacts,
    build_status,
    condition_status,
    format_validation_errors,
    status_patch,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T01:00:00Z"
VALID = SpecFacts(kubernetes_version="auto", mode="Enforce")


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_valid_spec_ready_but_not_conformant() -> None:
    status = build_status(None, VALID, resolve_version("auto", "v1.36.3"), 4, T0)
    # nothing evaluated or reconciled; lastEvaluated is the pass's heartbeat (with_heartbeat), not build_status's
    assert set(status) == set(OWNED_KEYS) - {"requirements", "components", "lastEvaluated"}
    assert status["observedGeneration"] == 4
    assert status["kubernetesVersion"] == "v1.36"
    assert status["summary"] == {
        "kubernetesVersion": "v1.36",
        "conformant": "Unknown",
        "mustMet": "?/8",
        "shouldMet": "?/6",
        "mode": "Enforce",
    }
    ready, conformant = _cond(status, "Ready"), _cond(status, "Conformant")
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    assert "v1.36" in ready["message"] and "not yet checked" in ready["message"]
    assert (conformant["status"], conformant["reason"]) == ("Unknown", "NotEvaluated")
    assert all(c["observedGeneration"] == 4 for c in status["conditions"])


@pytest.mark.parametrize(
    ("version", "must", "should"), [("v1.33", 8, 1), ("v1.34", 9, 0), ("v1.35", 9, 3), ("v1.36", 8, 6)]
)
def test_counts_per_checklist(version: str, must: int, should: int) -> None:
    status = build_status(None, SpecFacts(version, "Audit"), resolve_version(version, None), 1, T0)
    assert status["summary"]["mustMet"] == f"?/{must}"
    assert status["summary"]["shouldMet"] == f"?/{should}"
    assert status["summary"]["mode"] == "Audit"


def test_newer_cluster_says_so() -> None:
    status = build_status(None, VALID, resolve_version("auto", "v1.37.2"), 1, T0)
    assert status["summary"]["kubernetesVersion"] == "v1.36"
    assert "v1.37.2" in _cond(status, "Ready")["message"]


def test_invalid_spec() -> None:
    status = build_status(None, SpecError("spec.mode: Input should be 'Enforce' or 'Audit'"), None, 2, T0)
    ready = _cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.mode" in ready["message"]
    assert _cond(status, "Conformant")["status"] == "Unknown"
    assert "kubernetesVersion" not in status["summary"]
    assert "kubernetesVersion" not in status
    assert status["observedGeneration"] == 2


@pytest.mark.parametrize(
    ("requested", "cluster", "reason"),
    [
        ("auto", "v1.31.0", "UnsupportedKubernetesVersion"),
        ("v1.99", None, "UnknownChecklistVersion"),
        ("auto", None, "ClusterVersionUnknown"),
    ],
)
def test_unresolvable_version(requested: str, cluster: str | None, reason: str) -> None:
    spec = SpecFacts(requested, "Enforce")
    status = build_status(None, spec, resolve_version(requested, cluster), 1, T0)
    ready = _cond(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert status["summary"]["mode"] == "Enforce"
    assert "kubernetesVersion" not in status["summary"]


def test_valid_spec_requires_resolution() -> None:
    with pytest.raises(ValueError):
        build_status(None, VALID, None, 1, T0)


@pytest.mark.parametrize(
    ("spec", "cluster"),
    [
        (VALID, "v1.36.0"),
        (VALID, "v1.20.0"),
        (VALID, None),
        (SpecFacts("v1.33", "Audit"), None),
        (SpecError("bad"), None),
    ],
)
def test_never_claims_conformance_and_reasons_camel_case(spec: SpecFacts | SpecError, cluster: str | None) -> None:
    res = resolve_version(spec.kubernetes_version, cluster) if isinstance(spec, SpecFacts) else None
    status = build_status(None, spec, res, 1, T0)
    assert condition_status(status, "Conformant") != "True"
    assert status["summary"]["conformant"] == "Unknown"
    assert "?" in status["summary"]["mustMet"]
    assert all(is_camel_case(c["reason"]) for c in status["conditions"])


def test_unchanged_input_means_no_write() -> None:
    res = resolve_version("auto", "v1.36.3")
    first = build_status(None, VALID, res, 3, T0)
    # What the API server hands back: our status plus fields we do not own.
    stored = {**first, "other": {"kept": True}}
    again = build_status(stored, VALID, res, 3, T1)
    assert again == first  # lastTransitionTime kept, nothing else moved
    assert status_patch(stored, again) == {}


def test_only_condition_times_differ_means_no_write() -> None:
    res = resolve_version("auto", "v1.36.3")
    first = build_status(None, VALID, res, 3, T0)
    shifted = {**first, "conditions": [dict(c, lastTransitionTime=T1) for c in first["conditions"]]}
    assert status_patch(first, shifted) == {}


def test_new_generation_writes_and_keeps_transition_time() -> None:
    res = resolve_version("auto", "v1.36.3")
    first = build_status(None, VALID, res, 3, T0)
    second = build_status(first, VALID, res, 4, T1)
    patch = status_patch(first, second)
    assert patch["observedGeneration"] == 4
    assert [c["lastTransitionTime"] for c in patch["conditions"]] == [T0, T0]
    assert "summary" not in patch


def test_flip_to_invalid_patches_and_deletes_stale_keys() -> None:
    first = build_status(None, VALID, resolve_version("auto", "v1.36.3"), 1, T0)
    second = build_status(first, SpecError("spec.mode: bad"), None, 2, T1)
    patch = status_patch(first, second)
    assert patch["summary"]["kubernetesVersion"] is None  # merge-patch deletion
    assert patch["kubernetesVersion"] is None
    assert patch["summary"]["mode"] is None
    assert _cond(patch, "Ready")["lastTransitionTime"] == T1
    assert _cond(patch, "Conformant")["lastTransitionTime"] == T0  # Unknown → Unknown


def test_first_write_has_everything() -> None:
    status = build_status(None, VALID, resolve_version("auto", "v1.36.3"), 1, T0)
    assert status_patch(None, status) == status
    assert status_patch({}, status) == status


def test_format_validation_errors() -> None:
    errors: list[dict[str, Any]] = [
        {"loc": ("spec", "mode"), "msg": "Input should be 'Enforce' or 'Audit'"},
        {"loc": ("components", "kueue", 0), "msg": "bad"},
    ]
    assert (
        format_validation_errors(errors) == "spec.mode: Input should be 'Enforce' or 'Audit'; components.kueue.0: bad"
    )
    assert format_validation_errors(errors[1:], prefix="spec") == "spec.components.kueue.0: bad"
    assert format_validation_errors([]) == "invalid spec"


@pytest.mark.parametrize("spec", [VALID, SpecError("spec.mode: bad")])
def test_matches_the_status_schema(spec: SpecFacts | SpecError) -> None:
    """Every key we write exists in models.ProfileStatus, so the API server does not prune it."""
    from aiconform.api.models import ProfileStatus

    res = resolve_version("auto", "v1.36.3") if isinstance(spec, SpecFacts) else None
    status = build_status(None, spec, res, 1, T0)
    assert ProfileStatus.model_validate(status).model_dump(exclude_unset=True, by_alias=True) == status


def test_heartbeat_writes_last_evaluated_only_on_change_or_every_ten_minutes() -> None:
    from aiconform.operator.status import status_patch, with_heartbeat

    first = with_heartbeat(None, build_status(None, VALID, resolve_version("auto", "v1.36.3"), 4, T0), T0)
    assert first["lastEvaluated"] == T0
    same = build_status(first, VALID, resolve_version("auto", "v1.36.3"), 4, "2026-01-01T00:05:00Z")
    quiet = with_heartbeat(first, same, "2026-01-01T00:05:00Z")
    assert status_patch(first, quiet) == {}  # an idle cluster: no write between heartbeats
    later = with_heartbeat(first, same, "2026-01-01T00:10:01Z")
    assert status_patch(first, later) == {"lastEvaluated": "2026-01-01T00:10:01Z"}
    changed = build_status(first, VALID, resolve_version("auto", "v1.36.3"), 5, "2026-01-01T00:01:00Z")
    assert with_heartbeat(first, changed, "2026-01-01T00:01:00Z")["lastEvaluated"] == "2026-01-01T00:01:00Z"


def test_a_probe_refused_its_namespace_or_permissions_says_so_on_the_profile() -> None:
    """Bad input for probes (a tenant's namespace, someone else's objects in it, missing RBAC) is a condition on
    the profile, not only a line in a requirement's transcript."""
    from aiconform.conformance.verdict import Verdict
    from aiconform.operator.status import CONDITION_PROBES, probes_condition

    refused = Verdict(
        "gang_scheduling",
        "Not Implemented",
        "ProbeNamespaceRefused",
        "namespace aiconform-probe-gang holds a ConfigMap that is not the probe's",
    )
    observed = Verdict("dra_support", "Implemented", "BehaviourObserved", "allocated", tier="Observed")
    timed_out = Verdict("pod_autoscaling", "Not Implemented", "ProbeTimedOut", "no ScalingActive")
    assert probes_condition(()) is None
    status, reason, message = probes_condition((observed, refused)) or ("", "", "")
    assert (status, reason) == ("False", "ProbeNamespaceRefused")
    assert "gang_scheduling" in message and "not the probe's" in message
    assert probes_condition((observed, timed_out)) == (
        "True",
        "ProbesRan",
        "2 probes ran, 1 decided; undecided: pod_autoscaling",
    )
    assert CONDITION_PROBES == "Probes"
