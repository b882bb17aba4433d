"""Renderers of an evaluation: a terminal table, JSON, JUnit XML and the CNCF PRODUCT.yaml.

Every renderer is a pure function from an evaluation (plus options) to a string; reading the cluster and writing
files is the caller's job (`aiconform.checker.commands`). They read the evaluation through the small protocols below, so
they depend on its shape, not on how it was computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiconform.conformance.catalog import Requirement, requirements_for

__all__ = ["FAIL_ON", "EvaluationView", "VerdictView", "counts_as_failure", "is_met", "rows"]

# --fail-on choices: which levels fail the run (and which JUnit cases are failures rather than skipped).
FAIL_ON: tuple[str, ...] = ("must", "should")


class VerdictView(Protocol):
    @property
    def requirement(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def evidence(self) -> Sequence[str]: ...
    @property
    def declared(self) -> bool: ...
    @property
    def tier(self) -> str: ...


class EvaluationView(Protocol):
    @property
    def version(self) -> str: ...
    @property
    def verdicts(self) -> Sequence[VerdictView]: ...
    @property
    def must_met(self) -> int: ...
    @property
    def must_total(self) -> int: ...
    @property
    def should_met(self) -> int: ...
    @property
    def should_total(self) -> int: ...
    @property
    def conformant(self) -> bool: ...


def rows(evaluation: EvaluationView) -> list[tuple[Requirement, VerdictView]]:
    """Each verdict with its catalog requirement (category, level, description), in the evaluation's order."""
    known = {r.id: r for r in requirements_for(evaluation.version)}
    out: list[tuple[Requirement, VerdictView]] = []
    for v in evaluation.verdicts:
        if v.requirement not in known:
            raise ValueError(f"verdict for {v.requirement!r}, which checklist {evaluation.version} does not list")
        out.append((known[v.requirement], v))
    return out


def is_met(verdict: VerdictView) -> bool:
    """Implemented, or N/A: what counts towards the tallies and conformance (as `Verdict.met`)."""
    return verdict.status in ("Implemented", "N/A")


def counts_as_failure(requirement: Requirement, verdict: VerdictView, fail_on: str) -> bool:
    """Whether this verdict fails the run under --fail-on (must: MUSTs only; should: MUSTs and SHOULDs)."""
    if is_met(verdict):
        return False
    return requirement.level == "MUST" or fail_on == "should"
