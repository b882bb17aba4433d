"""What a probe saw, and the pure decisions on it: the transcript, the verdict, which leftovers to remove and
whether a namespace prefix is safe to use. No I/O here (sandbox.py does the talking)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiconform.api.constants import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from aiconform.conformance import evidence
from aiconform.conformance.verdict import (
    BEHAVIOUR_OBSERVED,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    PROBE_CANNOT_RUN,
    PROBE_FAILED,
    PROBE_NAMESPACE_REFUSED,
    PROBE_NOT_PERMITTED,
    PROBE_TIMED_OUT,
    Verdict,
    VerdictStatus,
)

LABEL_PROBE = "aiconform.io/probe"  # value: the probe's name (its requirement id, dashed)
LABEL_RUN = "aiconform.io/probe-run"  # value: the run's id (unique per run)
PROBE_LABELS = (LABEL_MANAGED_BY, LABEL_PROBE)

Outcome = Literal["observed", "failed", "timed_out", "cannot_run", "not_permitted", "namespace_refused"]
_REASONS: Mapping[str, str] = {
    "observed": BEHAVIOUR_OBSERVED,
    "failed": PROBE_FAILED,
    "timed_out": PROBE_TIMED_OUT,
    "cannot_run": PROBE_CANNOT_RUN,
    "not_permitted": PROBE_NOT_PERMITTED,
    "namespace_refused": PROBE_NAMESPACE_REFUSED,
}


def dashed(probe: str) -> str:
    """gang_scheduling → gang-scheduling (a label value and a namespace name part)."""
    return probe.replace("_", "-")


def probe_labels(probe: str, run_id: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROBE: dashed(probe), LABEL_RUN: run_id}


@dataclass(frozen=True)
class Step:
    """One thing the probe did or waited for. `at` and `took` are seconds from the probe's start."""

    name: str
    at: float
    took: float
    ok: bool
    detail: str = ""


@dataclass
class Record:
    """A probe run: its steps, the objects it made, and how it ended."""

    probe: str
    started: str = ""  # RFC 3339
    namespace: str = ""
    steps: list[Step] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)  # "Kind namespace/name" or "Kind name"
    cleanup: list[str] = field(default_factory=list)
    outcome: Outcome = "cannot_run"
    message: str = ""
    status: VerdictStatus | None = None  # overrides the outcome's status (e.g. Partially Implemented)
    reason: str | None = None  # overrides the outcome's reason
    evidence: list[str] = field(default_factory=list)
    duration: float = 0.0  # seconds to verdict

    def step(self, name: str, at: float, took: float, ok: bool = True, detail: str = "") -> Step:
        done = Step(name, round(at, 3), round(took, 3), ok, detail)
        self.steps.append(done)
        return done


def render_transcript(record: Record) -> str:
    """A readable transcript: what was made, each step with its timing and what was seen, the result, cleanup."""
    lines = [f"probe {record.probe} started {record.started or '?'}"]
    if record.namespace:
        lines.append(f"sandbox namespace: {record.namespace}")
    for step in record.steps:
        mark = "ok  " if step.ok else "FAIL"
        lines.append(f"  [{step.at:7.2f}s +{step.took:6.2f}s] {mark} {step.name}")
        for detail in step.detail.splitlines():
            lines.append(f"        {detail}")
    if record.objects:
        lines.append("objects made: " + ", ".join(record.objects))
    verdict = verdict_of(record)
    lines.append(f"result after {record.duration:.1f}s: {verdict.status} ({verdict.reason}): {verdict.message}")
    if record.cleanup:
        lines.append("cleanup: " + "; ".join(record.cleanup))
    return "\n".join(lines)


def verdict_of(record: Record, *, with_transcript: bool = False) -> Verdict:
    """The verdict a probe run gives its requirement.

    observed → Implemented (or the record's own status, e.g. Partially Implemented when a part needs hardware),
    tier Observed; failed → Not Implemented, tier Observed (condition False); timed out, cannot run, not
    permitted, namespace refused → Not Implemented with a reason whose condition is Unknown: nothing was shown,
    nothing was disproved."""
    reason = record.reason or _REASONS[record.outcome]
    observed = record.outcome in ("observed", "failed")
    status: VerdictStatus = record.status or (IMPLEMENTED if record.outcome == "observed" else NOT_IMPLEMENTED)
    if not observed:
        status = NOT_IMPLEMENTED
    verdict = Verdict(
        requirement=record.probe,
        status=status,
        reason=reason,
        message=record.message or f"probe {record.probe}: {record.outcome}",
        evidence=tuple(record.evidence),
        tier=evidence.OBSERVED if observed else evidence.API_PRESENCE,
    )
    if with_transcript:
        return dataclasses.replace(verdict, transcript=(render_transcript(record),))
    return verdict


# --- leftovers and namespaces ----------------------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def is_probe_object(obj: Mapping[str, Any]) -> bool:
    """Made by a probe: labelled as ours and with a probe's name."""
    labels = _labels(obj)
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE and bool(labels.get(LABEL_PROBE))


def _created(obj: Mapping[str, Any]) -> datetime | None:
    raw = _meta(obj).get("creationTimestamp")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def leftovers(objects: Iterable[Mapping[str, Any]], now: datetime, grace: float) -> list[Mapping[str, Any]]:
    """Objects of earlier probe runs to remove: ours (probe labels), not already being deleted, and older than
    `grace` seconds (a run still going, e.g. `aiconform check --probe` next to the operator, is left alone)."""
    out = []
    for obj in objects:
        if not is_probe_object(obj) or _meta(obj).get("deletionTimestamp"):
            continue
        created = _created(obj)
        if created is None or (now - created).total_seconds() >= grace:
            out.append(obj)
    return out


def foreign_objects(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Objects in a probe namespace that no probe made: neither labelled as ours nor made by a controller for an
    object there (an owner reference). A namespace holding one is never deleted by a probe."""
    out = []
    for obj in objects:
        if is_probe_object(obj) or _meta(obj).get("ownerReferences"):
            continue
        out.append(f"{obj.get('kind', 'object')} {_meta(obj).get('namespace', '')}/{_meta(obj).get('name', '')}")
    return out


def prefix_problem(prefix: str, namespaces: Iterable[Mapping[str, Any]], tenants: Iterable[str]) -> str | None:
    """Why the probe namespace prefix may not be used, or None: an existing namespace that starts with it and is
    not a probe's (a tenant's, the system's), or a tenant namespace that starts with it."""
    tenant_set = set(tenants)
    clash = sorted(
        str(_meta(ns).get("name"))
        for ns in namespaces
        if str(_meta(ns).get("name", "")).startswith(prefix)
        and (not is_probe_object(ns) or str(_meta(ns).get("name")) in tenant_set)
    )
    if not clash:
        return None
    names = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
    kind = "a tenant namespace" if set(clash) & tenant_set else "a namespace no probe made"
    return (
        f"probe namespace prefix {prefix!r} selects {kind} ({names}); probes never run in a namespace that is not "
        "their own: set spec.probes.namespacePrefix to a prefix no namespace uses"
    )


_NAME_TAIL = re.compile(r"[^a-z0-9-]")
SHORT_NAMES: Mapping[str, str] = {
    "gang_scheduling": "gang",
    "dra_support": "dra",
    "secure_accelerator_access": "secure",
    "ai_inference": "inference",
    "robust_controller": "robust",
    "pod_autoscaling": "autoscaling",
}


def namespace_name(prefix: str, probe: str, suffix: str) -> str:
    """The sandbox namespace of one run: prefix, the probe's short name, a random suffix; a DNS label."""
    short = SHORT_NAMES.get(probe, dashed(probe))
    name = _NAME_TAIL.sub("-", f"{prefix}{short}-{suffix}".lower())[:63]
    return name.strip("-")


def condition_of(obj: Mapping[str, Any] | None, ctype: str) -> dict[str, Any]:
    """The condition `ctype` of an object's status (empty when absent)."""
    status = (obj or {}).get("status")
    for cond in (status.get("conditions") if isinstance(status, Mapping) else None) or []:
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return dict(cond)
    return {}


def condition_text(cond: Mapping[str, Any], ctype: str) -> str:
    """`Programmed=False (Pending: waiting for an address)` or `Programmed unset`."""
    if not cond:
        return f"{ctype} unset"
    why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
    return f"{ctype}={cond.get('status')}" + (f" ({why})" if why else "")


def summarize(steps: Sequence[Step]) -> str:
    """The step names, in order, for a one-line message."""
    return " → ".join(s.name for s in steps)


def utc_now() -> datetime:
    return datetime.now(UTC)
