"""`aiconform status`: the profile's status read back is the table `aiconform check` prints for the same
evaluation, and the wait ends exactly when the status shows every probe the spec runs (checker/profile_status)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from aiconform.api.models import ProfileSpec, RequirementResult
from aiconform.checker.commands import exit_code
from aiconform.checker.profile_status import (
    CONDITION_PROBES,
    evaluation_from_status,
    explain,
    parse_profile,
    pending,
    probes_expected,
    probes_line,
    shows_probe,
)
from aiconform.checker.report.table import render_table
from aiconform.cli import build_parser
from aiconform.conformance.catalog import resolve_version
from aiconform.conformance.evaluate import Evaluation, evaluate
from aiconform.conformance.probemerge import merge_evaluation, merge_verdict
from aiconform.conformance.verdict import (
    BEHAVIOUR_OBSERVED,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    PROBE_CANNOT_RUN,
    PROBE_FAILED,
    Verdict,
)
from aiconform.kube.snapshot import Snapshot
from aiconform.operator import status as operator_status
from aiconform.operator.status import SpecFacts, build_status

VERSION = "v1.35"  # the last checklist with dra_support
T0 = "2026-01-01T00:00:00Z"
DECLARED = {"cluster_autoscaling": {"status": "N/A", "notes": "fixed GPU pools"}}


def _evaluation(probes: list[Verdict], version: str = VERSION) -> Evaluation:
    spec = ProfileSpec.model_validate({"requirements": DECLARED})
    return merge_evaluation(evaluate(Snapshot(), spec, version), probes)


def _profile(spec: dict[str, Any], status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "production", "generation": generation, "uid": "u1", "managedFields": []},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def _written(
    evaluation: Evaluation | None, generation: int = 2, version: str = VERSION, probes: Sequence[Verdict] = ()
) -> dict[str, Any]:
    """The status the operator writes for this evaluation and probe run (operator/status.build_status)."""
    resolution = resolve_version(version, None)
    return build_status(None, SpecFacts(version, "Enforce"), resolution, generation, T0, evaluation, probes=probes)


DRA_SEEN = Verdict(
    "dra_support", IMPLEMENTED, BEHAVIOUR_OBSERVED, "a probe saw the scheduler allocate", tier="Observed"
)
GANG_CANNOT = Verdict("gang_scheduling", NOT_IMPLEMENTED, PROBE_CANNOT_RUN, "probe gang_scheduling: no Kueue CRDs")


def test_the_status_reads_back_as_checks_table() -> None:
    evaluation = _evaluation([DRA_SEEN, GANG_CANNOT])
    _, status = parse_profile(_profile({}, _written(evaluation)))
    view = evaluation_from_status(status)
    assert view is not None
    for colour in (False, True):
        assert render_table(view, color=colour, width=200) == render_table(evaluation, color=colour, width=200)
    assert (view.must_met, view.must_total, view.should_met, view.should_total, view.conformant) == (
        evaluation.must_met,
        evaluation.must_total,
        evaluation.should_met,
        evaluation.should_total,
        evaluation.conformant,
    )
    assert exit_code(view, "must") == exit_code(evaluation, "must")
    table = render_table(view, color=False, width=200)
    assert "Observed" in table and "* declared in the profile" in table


def test_tallies_counted_when_the_summary_lacks_them() -> None:
    status = _written(_evaluation([DRA_SEEN]))
    status["summary"] = {}
    _, parsed = parse_profile(_profile({}, status))
    view = evaluation_from_status(parsed)
    expected = _evaluation([DRA_SEEN])
    assert view is not None and (view.must_met, view.must_total) == (expected.must_met, expected.must_total)


def test_not_evaluated_yet_is_none() -> None:
    _, status = parse_profile(_profile({}, _written(None)))
    assert evaluation_from_status(status) is None
    _, empty = parse_profile(_profile({}, None))
    assert evaluation_from_status(empty) is None


PROBES = {"run": ["dra_support", "gang_scheduling"]}


def test_pending_until_current_then_until_every_probe_shows() -> None:
    checks_only = _written(_evaluation([]))
    profile, status = parse_profile(_profile({"probes": PROBES}, None))
    assert pending(profile, status) == ["an evaluation of generation 2"]
    profile, status = parse_profile(_profile({"probes": PROBES}, _written(_evaluation([]), generation=1)))
    assert pending(profile, status) == ["an evaluation of generation 2"]
    profile, status = parse_profile(_profile({"probes": PROBES}, _written(None)))
    assert pending(profile, status) == ["the first evaluation"]
    profile, status = parse_profile(_profile({"probes": PROBES}, checks_only))
    assert pending(profile, status) == ["probe dra_support", "probe gang_scheduling"]
    profile, status = parse_profile(_profile({"probes": PROBES}, _written(_evaluation([DRA_SEEN]))))
    assert pending(profile, status) == ["probe gang_scheduling"]
    profile, status = parse_profile(_profile({"probes": PROBES}, _written(_evaluation([DRA_SEEN, GANG_CANNOT]))))
    assert pending(profile, status) == []
    # The operator's Probes condition for this generation says a run is in, even where a probe's success left a
    # faulty check's verdict standing (nothing in the row shows the probe then); one of an older generation does not.
    with_condition = _written(_evaluation([]), probes=[GANG_CANNOT])
    assert [c["type"] for c in with_condition["conditions"]].count(CONDITION_PROBES) == 1
    profile, status = parse_profile(_profile({"probes": PROBES}, with_condition))
    assert pending(profile, status) == []
    assert probes_line(status) == "Probes: True (ProbesRan): 1 probes ran, 0 decided; undecided: gang_scheduling"
    assert probes_line(parse_profile(_profile({}, checks_only))[1]) is None
    profile, status = parse_profile(_profile({"probes": PROBES}, with_condition, generation=3))
    assert pending(profile, status) == ["an evaluation of generation 3"]
    stale = {**with_condition, "observedGeneration": 3}
    profile, status = parse_profile(_profile({"probes": PROBES}, stale, generation=3))
    assert pending(profile, status) == ["probe dra_support", "probe gang_scheduling"]
    # A probe of a requirement the evaluated checklist lacks is never merged (dra_support left v1.36's).
    v136 = _written(_evaluation([DRA_SEEN], "v1.36"), version="v1.36")
    assert "dra_support" not in {r["id"] for r in v136["requirements"]}
    profile, status = parse_profile(_profile({"probes": PROBES}, v136))
    assert pending(profile, status) == ["probe gang_scheduling"]
    # No probes asked for, or Audit (the operator never probes there): current checks are enough.
    for spec in ({}, {"mode": "Audit", "probes": PROBES}):
        profile, status = parse_profile(_profile(spec, checks_only))
        assert pending(profile, status) == [] and (spec == {} or probes_expected(profile) == [])


@pytest.mark.parametrize(
    "probe",
    [
        DRA_SEEN,  # replaces the check's verdict: tier Observed
        Verdict("dra_support", NOT_IMPLEMENTED, PROBE_CANNOT_RUN, "probe dra_support: no DeviceClass"),  # appended
        Verdict("dra_support", NOT_IMPLEMENTED, PROBE_FAILED, "the claim stayed unallocated", tier="Observed"),
    ],
    ids=["observed", "inconclusive", "failed"],
)
def test_a_merged_probe_is_seen_and_a_check_alone_is_not(probe: Verdict) -> None:
    """Held to conformance/probemerge: whatever a probe's verdict, the merged one shows that it ran."""
    checked = _evaluation([]).verdict("dra_support")
    assert checked is not None

    def row(v: Verdict) -> RequirementResult:
        return RequirementResult.model_validate(
            {"id": v.requirement, "category": "accelerators", "level": "MUST", "status": v.status, "reason": v.reason}
            | {"message": v.message, "tier": v.tier}
        )

    assert not shows_probe(row(checked))
    assert shows_probe(row(merge_verdict(checked, probe)))


def test_explain_lists_in_full_what_fails_under_fail_on() -> None:
    _, status = parse_profile(_profile({}, _written(_evaluation([DRA_SEEN, GANG_CANNOT]))))
    view = evaluation_from_status(status)
    assert view is not None
    text = explain(view, "must", 80)
    assert text.startswith("Not met (MUST), in full:\n")
    assert "- gang_scheduling (Not Implemented," in text and "no Kueue CRDs" in " ".join(text.split())
    assert "dra_support" not in text and "cluster_autoscaling" not in text  # met: Observed, and declared N/A
    assert all(len(line) <= 80 for line in text.splitlines())
    should = explain(view, "should", 80)
    assert should.startswith("Not met (MUST and SHOULD)") and len(should) > len(text)
    met = _evaluation([DRA_SEEN])
    only_met = tuple(v for v in met.verdicts if v.requirement in ("dra_support", "cluster_autoscaling"))
    assert explain(dataclasses.replace(met, verdicts=only_met), "should", 80) == ""


def test_the_condition_name_is_the_operators() -> None:
    assert CONDITION_PROBES == operator_status.CONDITION_PROBES


def test_the_command_line() -> None:
    args = build_parser().parse_args(["status", "production", "--wait", "300", "--explain"])
    assert (args.command, args.name, args.wait, args.explain, args.fail_on) == (
        "status",
        "production",
        300,
        True,
        "must",
    )
    assert build_parser().parse_args(["status", "p"]).wait == 0
