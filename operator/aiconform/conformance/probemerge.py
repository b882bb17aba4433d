"""Merging probe verdicts (aiconform.probes) over the checks' verdicts: the one rule, shared by `aiconform check
--probe` and the operator.

A probe verdict is one of three kinds, told by its reason:
- inconclusive (`PROBE_INCONCLUSIVE`: timed out, cannot run, not permitted, namespace refused): it never replaces
  anything; the check's verdict stays and its message says what the probe could not do.
- a failure (`ProbeFailed`, tier Observed): the behaviour was seen refused or absent. It replaces a check verdict
  that claims more (it disproves it); it never upgrades anything.
- a success (tier Observed): it replaces the check's verdict when it claims at least as much and the check names
  no objects at fault (a probe proves the behaviour works, not that nothing in the cluster is wrong). An Observed
  `Implemented` thus replaces a presence-only `Partially Implemented`.

Every merged verdict passes `evidence.enforce` again. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from aiconform.conformance import evidence
from aiconform.conformance.evaluate import Evaluation
from aiconform.conformance.verdict import (
    IMPLEMENTED,
    NOT_APPLICABLE,
    NOT_IMPLEMENTED,
    PARTIAL,
    PROBE_FAILED,
    PROBE_INCONCLUSIVE,
    Verdict,
    is_met,
)

__all__ = ["merge_evaluation", "merge_verdict"]

_RANK = {NOT_IMPLEMENTED: 0, PARTIAL: 1, IMPLEMENTED: 2, NOT_APPLICABLE: 2}


def merge_verdict(checked: Verdict, probe: Verdict) -> Verdict:
    """The verdict on one requirement, given the check's (already enforced) and a probe's."""
    if probe.requirement != checked.requirement:
        return checked
    if probe.reason in PROBE_INCONCLUSIVE or probe.tier != evidence.OBSERVED:
        note = f"{checked.message}; probe: {probe.message}"
        return dataclasses.replace(checked, message=note, transcript=checked.transcript + probe.transcript)
    if probe.reason == PROBE_FAILED:
        if _RANK[probe.status] >= _RANK[checked.status]:
            return dataclasses.replace(
                checked,
                message=f"{checked.message}; probe: {probe.message}",
                transcript=checked.transcript + probe.transcript,
            )
        message = f"{probe.message} (the check said {checked.status}: {checked.message})"
        if checked.declared:
            message = f"spec.requirements declares {checked.status}, but a probe contradicts it: {message}"
        return evidence.enforce(
            dataclasses.replace(
                probe,
                message=message,
                evidence=probe.evidence + checked.evidence,
                faults=checked.faults,
                declared=checked.declared,
                transcript=checked.transcript + probe.transcript,
            )
        )
    if checked.faults or _RANK[probe.status] < _RANK[checked.status] or checked.status == NOT_APPLICABLE:
        return dataclasses.replace(checked, transcript=checked.transcript + probe.transcript)
    return evidence.enforce(dataclasses.replace(probe, transcript=checked.transcript + probe.transcript))


def merge_evaluation(evaluation: Evaluation, probes: Iterable[Verdict]) -> Evaluation:
    """The evaluation with each probe verdict merged over its requirement's, tallies recomputed. Probe verdicts
    of requirements not in this checklist are ignored."""
    by_requirement: dict[str, list[Verdict]] = {}
    for probe in probes:
        by_requirement.setdefault(probe.requirement, []).append(probe)
    if not by_requirement:
        return evaluation
    merged = []
    for verdict in evaluation.verdicts:
        for probe in by_requirement.get(verdict.requirement, ()):
            verdict = merge_verdict(verdict, probe)
        merged.append(verdict)
    musts = [v for v in merged if evaluation.levels.get(v.requirement) == "MUST"]
    shoulds = [v for v in merged if evaluation.levels.get(v.requirement) == "SHOULD"]
    return dataclasses.replace(
        evaluation,
        verdicts=tuple(merged),
        must_met=sum(is_met(v) for v in musts),
        should_met=sum(is_met(v) for v in shoulds),
        conformant=all(is_met(v) for v in musts),
    )
