"""Evaluate a profile against one checklist version: run the checks, apply declarations, tally, decide.

Pure and total: same (snapshot, spec, version) → same `Evaluation`, and no check can crash it (a check that
raises becomes a `CheckError` verdict, condition Unknown). Only an unknown checklist version raises (KeyError):
callers resolve the version first (`catalog.resolve_version`).

Counting rules:
- "met" is Implemented or N/A, for MUSTs and SHOULDs alike.
- `conformant` is true when every MUST is met. N/A on a MUST only ever comes from a declaration in
  spec.requirements (which needs notes) or from a conditional MUST whose condition does not hold (HPA API not
  served): the checks never report N/A for a non-conditional MUST. This follows the CNCF FAQ, which accepts N/A
  with a justification where the context does not apply. `scripts/validate.go` is stricter and demands
  `Implemented` on every MUST; an export to PRODUCT.yaml must write such an item as Implemented with the N/A
  reasoning in notes, as recent submissions do.
- A declaration fills in what the check cannot show; the check still runs, and what it shows wins
  (`evidence.weigh_declaration`). Every verdict then passes `evidence.enforce`, the one place where
  `Implemented` is held to live evidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aiconform.api.models import DeclaredRequirement, ProfileSpec
from aiconform.conformance import catalog, evidence
from aiconform.conformance.catalog import Requirement
from aiconform.conformance.checks import CHECKS
from aiconform.conformance.verdict import ABSENCE_REASONS, CHECK_ERROR, DECLARED, NOT_IMPLEMENTED, Verdict, is_met
from aiconform.kube.snapshot import Snapshot

__all__ = ["Evaluation", "evaluate", "run_check"]


@dataclass(frozen=True)
class Evaluation:
    """The verdicts of one checklist version, in checklist order, and their tallies."""

    version: str
    verdicts: tuple[Verdict, ...]
    levels: Mapping[str, str]  # requirement id → "MUST" | "SHOULD" in this version
    categories: Mapping[str, str]  # requirement id → checklist category (spec.<key> of PRODUCT.yaml)
    must_met: int
    must_total: int
    should_met: int
    should_total: int
    conformant: bool
    # Each check's own verdict, before declarations and `evidence.enforce`: what a later evaluation may reuse
    # for a check none of whose sources changed (operator/incremental.py).
    checked: Mapping[str, Verdict] = dataclasses.field(default_factory=dict)

    def verdict(self, requirement: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.requirement == requirement), None)

    @property
    def must_summary(self) -> str:
        return f"{self.must_met}/{self.must_total}"

    @property
    def should_summary(self) -> str:
        return f"{self.should_met}/{self.should_total}"


def declared_verdict(requirement: str, declared: DeclaredRequirement) -> Verdict:
    return Verdict(
        requirement=requirement,
        status=declared.status,
        reason=DECLARED,
        message=declared.notes or "declared in spec.requirements",
        evidence=tuple(declared.evidence),
        declared=True,
        tier=evidence.DECLARED_TIER,
    )


def run_check(requirement: str, snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    """The check's verdict, or a CheckError verdict if it is missing or raises."""
    check = CHECKS.get(requirement)
    if check is None:
        return Verdict(requirement, NOT_IMPLEMENTED, CHECK_ERROR, f"no check is registered for {requirement}")
    try:
        verdict = check(snapshot, spec)
    except Exception as exc:  # a bug in a check must not take the whole evaluation down
        return Verdict(requirement, NOT_IMPLEMENTED, CHECK_ERROR, f"check failed: {type(exc).__name__}: {exc}")
    if verdict.requirement != requirement:
        return dataclasses.replace(verdict, requirement=requirement)
    return verdict


def _with_declare_hint(verdict: Verdict, req: Requirement) -> Verdict:
    """On a conditional requirement whose capability was not found, say how to declare it N/A."""
    if not req.conditional or verdict.status != NOT_IMPLEMENTED or verdict.reason not in ABSENCE_REASONS:
        return verdict
    hint = (
        f"; if the platform does not offer this capability, declare spec.requirements.{req.id} "
        'with status "N/A" and notes saying why'
    )
    return dataclasses.replace(verdict, message=verdict.message + hint)


def _verdict_for(req: Requirement, raw: Verdict, spec: ProfileSpec) -> Verdict:
    checked = evidence.enforce(_with_declare_hint(raw, req))
    declared = spec.requirements.get(req.id)  # type: ignore[call-overload]
    if declared is not None:
        return evidence.enforce(evidence.weigh_declaration(declared_verdict(req.id, declared), checked))
    return checked


def evaluate(
    snapshot: Snapshot, spec: ProfileSpec, version: str, reuse: Mapping[str, Verdict] | None = None
) -> Evaluation:
    """Evaluate `spec` on `snapshot` against checklist `version` ("v1.36"). KeyError if the version is unknown.
    `reuse`: check verdicts (`Evaluation.checked` of an earlier evaluation with the same spec) still true of
    this snapshot, because nothing their checks read has changed; every other check runs."""
    reqs = catalog.requirements_for(version)
    reuse = reuse or {}
    raw = {r.id: reuse[r.id] if r.id in reuse else run_check(r.id, snapshot, spec) for r in reqs}
    verdicts = tuple(_verdict_for(r, raw[r.id], spec) for r in reqs)
    musts = [v for r, v in zip(reqs, verdicts, strict=True) if r.level == "MUST"]
    shoulds = [v for r, v in zip(reqs, verdicts, strict=True) if r.level == "SHOULD"]
    return Evaluation(
        version=version,
        verdicts=verdicts,
        levels=MappingProxyType({r.id: r.level for r in reqs}),
        categories=MappingProxyType({r.id: r.category for r in reqs}),
        must_met=sum(is_met(v) for v in musts),
        must_total=len(musts),
        should_met=sum(is_met(v) for v in shoulds),
        should_total=len(shoulds),
        conformant=all(is_met(v) for v in musts),
        checked=MappingProxyType(raw),
    )
