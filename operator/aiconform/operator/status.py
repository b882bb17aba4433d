"""Decide a profile's whole status from what the reconcile learned, pure (no clock, no I/O).

Without an evaluation (nothing checked yet) the status says exactly that: conformance is `Unknown` and the
MUST/SHOULD counts are `?/N`. With one it carries a condition per requirement, the `requirements` list in
checklist vocabulary, the counts, and `Conformant` — `True` only when every MUST is met.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiconform.api.constants import CONDITION_CONFORMANT, CONDITION_READY
from aiconform.conformance import catalog
from aiconform.conformance.catalog import Resolution
from aiconform.conformance.evaluate import Evaluation
from aiconform.conformance.verdict import (
    PROBE_INCONCLUSIVE,
    PROBE_NAMESPACE_REFUSED,
    PROBE_NOT_PERMITTED,
    Verdict,
)
from aiconform.conformance.verdict import condition_status as verdict_condition
from aiconform.operator.conditions import Condition, Status, conditions_equal_ignoring_time, set_condition

REASON_RECONCILED = "Reconciled"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_NOT_EVALUATED = "NotEvaluated"
REASON_EVALUATED = "Evaluated"
REASON_ALL_MUSTS_MET = "AllMustsMet"
REASON_MUSTS_NOT_MET = "MustsNotMet"
REASON_MUSTS_UNPROVEN = "MustsUnproven"
CONDITION_PROBES = "Probes"  # the last run of spec.probes: could each probe do its work?
REASON_PROBES_RAN = "ProbesRan"

# Top-level status keys this module decides; anything else under status (if ever) is left alone.
OWNED_KEYS: tuple[str, ...] = (
    "observedGeneration",
    "kubernetesVersion",
    "summary",
    "conditions",
    "requirements",
    "components",
    "lastEvaluated",
)
# A verdict unchanged for this long is written again with a new lastEvaluated, so a consumer can tell a verdict
# from last minute from one of last week (the operator down): one write per profile per 10 minutes at most.
HEARTBEAT_SECONDS = 600.0


@dataclass(frozen=True)
class SpecFacts:
    """What the status needs from a valid spec."""

    kubernetes_version: str  # "auto" or "v1.NN"
    mode: str  # "Enforce" | "Audit"
    evaluation_interval: float = 60.0  # seconds between periodic re-evaluations


@dataclass(frozen=True)
class SpecError:
    """The spec failed validation; `message` names the offending field(s)."""

    message: str


def format_validation_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> str:
    """pydantic's `ValidationError.errors()` as one line: `spec.mode: Input should be ...; ...`."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in (prefix, *err.get("loc", ())) if p != "")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid spec"


def _counts(version: str) -> tuple[int, int]:
    reqs = catalog.requirements_for(version)
    return sum(r.level == "MUST" for r in reqs), sum(r.level == "SHOULD" for r in reqs)


def probes_condition(probes: Sequence[Verdict]) -> tuple[Status, str, str] | None:
    """The profile's `Probes` condition from the last probe run (None when no probe ran): False when a probe was
    refused its sandbox namespace (a tenant's, or one holding objects not the probe's) or its permissions, naming
    the probe and why; True otherwise, with how many proved a behaviour and how many could not decide."""
    if not probes:
        return None
    refused = [p for p in probes if p.reason in (PROBE_NAMESPACE_REFUSED, PROBE_NOT_PERMITTED)]
    if refused:
        detail = "; ".join(f"{p.requirement}: {p.message}" for p in refused)
        return ("False", refused[0].reason, f"{len(refused)} of {len(probes)} probes refused: {detail}"[:4000])
    undecided = [p.requirement for p in probes if p.reason in PROBE_INCONCLUSIVE]
    message = f"{len(probes)} probes ran, {len(probes) - len(undecided)} decided"
    return ("True", REASON_PROBES_RAN, message + (f"; undecided: {', '.join(undecided)}" if undecided else ""))


def _conditions(
    old: Any,
    generation: int,
    now: str,
    ready: tuple[Status, str, str],
    conformant: tuple[Status, str, str],
    per_requirement: Iterable[tuple[str, Status, str, str]] = (),
    probes: tuple[Status, str, str] | None = None,
) -> list[Condition]:
    existing = old if isinstance(old, list) else []
    conds = set_condition(existing, CONDITION_READY, *ready, generation, now)
    conds = set_condition(conds, CONDITION_CONFORMANT, *conformant, generation, now)
    wanted = {CONDITION_READY, CONDITION_CONFORMANT}
    if probes is not None:
        conds = set_condition(conds, CONDITION_PROBES, *probes, generation, now)
        wanted.add(CONDITION_PROBES)
    for type_, status, reason, message in per_requirement:
        conds = set_condition(conds, type_, status, reason, message, generation, now)
        wanted.add(type_)
    # A requirement that left the checklist (e.g. a version switch) loses its condition.
    return [c for c in conds if c["type"] in wanted]


def _names(ids: list[str], limit: int = 6) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _from_evaluation(evaluation: Evaluation) -> tuple[dict[str, Any], tuple[Status, str, str], list[Any], list[Any]]:
    """Summary counts, the Conformant condition, per-requirement conditions and the requirements list."""
    levels = {r.id: r for r in catalog.requirements_for(evaluation.version)}
    per_req: list[tuple[str, Status, str, str]] = []
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    unproven: list[str] = []
    for v in evaluation.verdicts:
        req = levels[v.requirement]
        cstatus = verdict_condition(v)
        per_req.append((v.requirement, cstatus, v.reason, f"{v.status}: {v.message}"))
        results.append(
            {
                "id": v.requirement,
                "category": req.category,
                "level": req.level,
                "status": v.status,
                "reason": v.reason,
                "message": v.message,
                "evidence": list(v.evidence),
                "declared": v.declared,
                "tier": v.tier,
            }
        )
        if req.level == "MUST" and cstatus == "False":
            failed.append(v.requirement)
        elif req.level == "MUST" and cstatus == "Unknown":
            unproven.append(v.requirement)
    summary = {
        "mustMet": f"{evaluation.must_met}/{evaluation.must_total}",
        "shouldMet": f"{evaluation.should_met}/{evaluation.should_total}",
    }
    conformant: tuple[Status, str, str]
    if evaluation.conformant:
        conformant = (
            "True",
            REASON_ALL_MUSTS_MET,
            f"all {evaluation.must_total} MUST requirements of checklist {evaluation.version} are met",
        )
    elif failed:
        conformant = ("False", REASON_MUSTS_NOT_MET, f"MUST requirements not met: {_names(failed)}")
    else:
        conformant = (
            "Unknown",
            REASON_MUSTS_UNPROVEN,
            f"MUST requirements not proven by the API (see their conditions): {_names(unproven)}",
        )
    summary["conformant"] = conformant[0]
    return summary, conformant, per_req, results


def build_status(
    old_status: Mapping[str, Any] | None,
    spec: SpecFacts | SpecError,
    resolution: Resolution | None,
    generation: int,
    now: str,
    evaluation: Evaluation | None = None,
    components: Mapping[str, Any] | None = None,
    probes: Sequence[Verdict] = (),
) -> dict[str, Any]:
    """The status to hold for this generation; keys are OWNED_KEYS (kubernetesVersion only once resolved).
    `probes`: the last probe run's verdicts, for the `Probes` condition (their verdicts are in `evaluation`).

    Given the same inputs and the status it produced last time, it returns an equal dict (condition times
    only move on a flip), which is what lets the caller skip the write.
    """
    old_conditions = (old_status or {}).get("conditions")
    summary: dict[str, Any] = {"conformant": "Unknown", "mustMet": "?/?", "shouldMet": "?/?"}
    ready: tuple[Status, str, str]
    conformant: tuple[Status, str, str]
    per_req: list[Any] = []
    results: list[Any] | None = None
    if isinstance(spec, SpecError):
        ready = ("False", REASON_INVALID_SPEC, spec.message)
        conformant = ("Unknown", REASON_NOT_EVALUATED, "not evaluated: the spec is invalid")
    elif resolution is None:
        raise ValueError("a valid spec needs a Resolution")
    else:
        summary["mode"] = spec.mode
        if not resolution.ok or resolution.version is None:
            ready = ("False", resolution.reason, resolution.message)
            conformant = ("Unknown", REASON_NOT_EVALUATED, "not evaluated: no checklist to evaluate against")
        else:
            version = resolution.version
            must, should = _counts(version)
            summary |= {"kubernetesVersion": version, "mustMet": f"?/{must}", "shouldMet": f"?/{should}"}
            if evaluation is None:
                ready = (
                    "True",
                    REASON_RECONCILED,
                    f"spec valid; {resolution.message}: {must} MUST and {should} SHOULD requirements, not yet checked",
                )
                conformant = ("Unknown", REASON_NOT_EVALUATED, f"checklist {version} is not evaluated yet")
            else:
                counts, conformant, per_req, results = _from_evaluation(evaluation)
                summary |= counts
                ready = (
                    "True",
                    REASON_EVALUATED,
                    f"spec valid; {resolution.message}: {len(evaluation.verdicts)} requirements evaluated",
                )
    out: dict[str, Any] = {"observedGeneration": generation}
    if "kubernetesVersion" in summary:
        out["kubernetesVersion"] = summary["kubernetesVersion"]
    out["summary"] = summary
    out["conditions"] = _conditions(
        old_conditions, generation, now, ready, conformant, per_req, probes_condition(probes)
    )
    if results is not None:
        out["requirements"] = results
    if components is not None:
        out["components"] = dict(components)
    return out


def _merge_diff(old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386) turning `old` into `new` over `keys`; None deletes a key."""
    out: dict[str, Any] = {}
    for key in keys:
        if key not in new:
            if key in old:
                out[key] = None
        elif isinstance(new[key], Mapping) and isinstance(old.get(key), Mapping):
            sub = _merge_diff(old[key], new[key], set(old[key]) | set(new[key]))
            if sub:
                out[key] = sub
        elif old.get(key) != new[key] or key not in old:
            out[key] = new[key]
    return out


def status_patch(old_status: Mapping[str, Any] | None, new_status: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch for `.status`, or {} when nothing but condition timestamps would change."""
    old = old_status or {}
    if conditions_equal_ignoring_time(old.get("conditions"), new_status.get("conditions")):
        rest_old = {k: v for k, v in old.items() if k != "conditions"}
        rest_new = {k: v for k, v in new_status.items() if k != "conditions"}
        if not _merge_diff(rest_old, rest_new, [k for k in OWNED_KEYS if k != "conditions"]):
            return {}
    return _merge_diff(old, new_status, OWNED_KEYS)


def _parse_time(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def with_heartbeat(
    old_status: Mapping[str, Any] | None, new_status: Mapping[str, Any], now: str, every: float = HEARTBEAT_SECONDS
) -> dict[str, Any]:
    """`new_status` with `lastEvaluated`: now when anything else changed or the last one is `every` seconds old,
    else the old one kept (so an idle cluster still causes no write between heartbeats)."""
    old = old_status or {}
    previous = old.get("lastEvaluated")
    out = {**new_status, "lastEvaluated": previous}
    if previous is None or status_patch(old, out):
        return {**new_status, "lastEvaluated": now}
    then, current = _parse_time(previous), _parse_time(now)
    if then is None or current is None or (current - then).total_seconds() >= every:
        return {**new_status, "lastEvaluated": now}
    return out


def condition_status(status: Mapping[str, Any] | None, type_: str) -> str | None:
    for cond in (status or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return str(cond.get("status"))
    return None
