"""Evidence tiers and the one rule every verdict passes through (`enforce`).

A verdict says what it rests on:
- `Observed`: a probe ran a canary and saw the behaviour.
- `ControllerStatus`: a status the responsible controller wrote, current for the object's generation.
- `APIPresence`: CRDs, objects, Deployments exist (anyone can create them; a simulator makes every pod "run").
- `Declared`: spec.requirements says so, for what the API cannot show.

The rule, enforced here and nowhere else, so no check has to remember it:
- `Implemented` needs Observed or ControllerStatus evidence (or a declaration, which only fills in what the API
  cannot show and never stands against what it does show). Presence alone is at most `Partially Implemented`.
- What only workloads on accelerators can prove (HARDWARE_PARTS) is at most `Partially Implemented` with
  `NeedsHardwareTest`, unless a probe observed it or a declaration covers it.
- A declaration that the cluster contradicts (the check found objects at fault) is not `Implemented`: the verdict
  says the declaration is contradicted and names the objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from aiconform.conformance.verdict import (
    DECLARATION_CONTRADICTED,
    DECLARED,
    IMPLEMENTED,
    NEEDS_HARDWARE_TEST,
    NOT_APPLICABLE,
    NOT_IMPLEMENTED,
    PARTIAL,
    PRESENCE_ONLY,
    UNREADABLE,
    Verdict,
)

Tier = Literal["Observed", "ControllerStatus", "APIPresence", "Declared"]
TIERS: tuple[str, ...] = get_args(Tier)
OBSERVED: Tier = "Observed"
CONTROLLER_STATUS: Tier = "ControllerStatus"
API_PRESENCE: Tier = "APIPresence"
DECLARED_TIER: Tier = "Declared"
STRONG: frozenset[str] = frozenset({OBSERVED, CONTROLLER_STATUS})


# The part of a requirement only a workload on accelerators (or a node-level test) can prove.
HARDWARE_PARTS: Mapping[str, str] = MappingProxyType(
    {
        "secure_accelerator_access": "that one container cannot reach another workload's accelerators (run the "
        "isolation test on GPU nodes)",
        "high_performance_networking": "that the fabric carries traffic between accelerators at the rated bandwidth",
        "cluster_autoscaling": "that a pending pod requesting an accelerator makes the node group scale up, and "
        "idle nodes scale down",
        "disaggregated_inference": "that prefill and decode workers hand requests over between accelerators",
    }
)


def with_tier(verdict: Verdict, tier: Tier) -> Verdict:
    return dataclasses.replace(verdict, tier=tier)


def enforce(verdict: Verdict) -> Verdict:
    """The verdict as the evidence allows it (pure; idempotent)."""
    if verdict.status != IMPLEMENTED:
        return verdict
    if verdict.tier == DECLARED_TIER or verdict.declared:
        return verdict  # the declaration was weighed against the check in `weigh_declaration`
    if verdict.tier not in STRONG:
        message = (
            f"{verdict.message} — but only the presence of objects was seen (evidence: {verdict.tier}); "
            "Implemented needs a status written by the controller, current for the object's generation, "
            "or a behaviour a probe observed"
        )
        return dataclasses.replace(verdict, status=PARTIAL, reason=PRESENCE_ONLY, message=message)
    hardware = HARDWARE_PARTS.get(verdict.requirement)
    if hardware and verdict.tier != OBSERVED:
        message = f"{verdict.message}; what only hardware can prove is not proven: {hardware}"
        return dataclasses.replace(verdict, status=PARTIAL, reason=NEEDS_HARDWARE_TEST, message=message)
    return verdict


_RANK = {NOT_IMPLEMENTED: 0, PARTIAL: 1, IMPLEMENTED: 2, NOT_APPLICABLE: 2}


def weigh_declaration(declared: Verdict, checked: Verdict) -> Verdict:
    """A declaration fills in what the API cannot show; it never hides what the API does show.

    - The check found objects at fault (`faults`) and the declaration claims more than the check: contradicted,
      at the check's status, naming the objects.
    - The check could not read what it would hold the declaration against (Unreadable): cannot-see stays
      cannot-see (condition Unknown); the declaration is named but not taken, as it cannot be checked.
    - The check proves Implemented on strong evidence: the check's verdict (it carries that evidence).
    - Otherwise the declaration stands, tier Declared.
    """
    if checked.reason == UNREADABLE:
        message = (
            f"{checked.message}; spec.requirements declares {declared.status}, not taken while the cluster state it "
            "would be checked against cannot be read"
        )
        return dataclasses.replace(checked, message=message, declared=True)
    if checked.faults and _RANK.get(declared.status, 0) > _RANK.get(checked.status, 0):
        faults = "; ".join(checked.faults[:10])
        message = (
            f"spec.requirements declares {declared.status}, but the cluster contradicts it: {faults}"
            f" ({checked.message})"
        )
        return dataclasses.replace(
            checked,
            status=checked.status if checked.status != IMPLEMENTED else PARTIAL,
            reason=DECLARATION_CONTRADICTED,
            message=message,
            declared=True,
        )
    if checked.status == IMPLEMENTED and checked.tier in STRONG and declared.status == IMPLEMENTED:
        return checked
    return dataclasses.replace(declared, reason=DECLARED, tier=DECLARED_TIER, declared=True)
