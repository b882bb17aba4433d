"""disaggregated_inference (KAR-0041; SHOULD since 1.36).

Asks: demonstrate that the platform can install and run a disaggregated inference solution (vLLM, SGLang,
llm-d, Dynamo, ...) with separate, separately scalable instances for prefill and decode.

We verify the API-visible part:
- llm-d: pods labelled `llm-d.ai/role=prefill` and `llm-d.ai/role=decode` that the kubelet reports Ready
  (readiness probes passing: a status a live component wrote). One role only, or none Ready:
  `PrefillDecodeIncomplete`, naming what is missing;
- NVIDIA Dynamo: CRD `dynamographdeployments.nvidia.com` Established, and a DynamoGraphDeployment its operator
  reports ready (`Ready=True` at its current generation, or `state: successful`); one without status or with a
  stale one is `CRsNotReconciled`, one failed (`Ready=False`, `state: failed`) `ReconcileFailed`, named in faults.

Verdicts (only a request that goes through the Gateway and shows up in both a prefill and a decode worker's logs
proves disaggregated serving, and that needs GPUs, so this is never more than Partially Implemented unless
declared):
- Partially Implemented, `NeedsHardwareTest` (tier ControllerStatus): Ready prefill and decode pods, or a
  DynamoGraphDeployment reported ready.
- Partially Implemented, `PresenceOnly` (tier APIPresence): the Dynamo CRD without any DynamoGraphDeployment.
- Not Implemented: `PrefillDecodeIncomplete`; DynamoGraphDeployments neglected or failed and nothing else;
  nothing found (`NoDisaggregatedServing`).
- Unknown (`Unreadable`): not Implemented and pods, crds or dynamographdeployments could not be listed.
- N/A: never (declare it when the platform does not offer the capability).

Snapshot: `pods` (all namespaces, or at least those labelled `llm-d.ai/role`); `crds`;
`custom["dynamographdeployments.nvidia.com"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    Judged,
    capped,
    condition,
    crd_established,
    judge_condition,
    judge_field,
    labels,
    names_list,
    plural,
    pod_ready,
    presence_only,
    reconciliation,
    ref,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    CRS_NOT_RECONCILED,
    NEEDS_HARDWARE_TEST,
    NO_DISAGGREGATED_SERVING,
    NOT_IMPLEMENTED,
    PARTIAL,
    PREFILL_DECODE_INCOMPLETE,
    RECONCILE_FAILED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "disaggregated_inference"
ROLE_LABEL = "llm-d.ai/role"
ROLES = ("prefill", "decode")
DYNAMO_CRD = "dynamographdeployments.nvidia.com"
SOURCES = ("pods", "crds", DYNAMO_CRD)
HARDWARE = "a request traced through both a prefill and a decode worker needs the hardware test"


def _pods_by_role(snapshot: Snapshot) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {role: [] for role in ROLES}
    for pod in snapshot.pods:
        role = labels(pod).get(ROLE_LABEL)
        if role in out:
            out[role].append(pod)
    return out


def _llmd(snapshot: Snapshot) -> tuple[str | None, str | None, list[str]]:
    """(success message, failure message, evidence) for llm-d; both None when no llm-d pod exists."""
    by_role = _pods_by_role(snapshot)
    if not any(by_role.values()):
        return None, None, []
    ready = {role: [p for p in pods if pod_ready(p)] for role, pods in by_role.items()}
    evidence = [f"{ref('Pod', p)} {ROLE_LABEL}={role} Ready" for role, pods in ready.items() for p in pods]
    lacking = [role for role in ROLES if not ready[role]]
    if not lacking:
        counts = ", ".join(f"{plural(len(ready[r]), r + ' pod')}" for r in ROLES)
        return f"llm-d serving with separate Ready {counts}", None, list(capped(evidence))
    not_ready = [ref("Pod", p) for role in lacking for p in by_role[role]]
    detail = f" (not Ready: {names_list(not_ready)})" if not_ready else ""
    return None, f"llm-d has no Ready {' or '.join(lacking)} pod{detail}", list(capped(evidence))


def _judge_graph(obj: Obj) -> Judged:
    if condition(obj, "Ready") is not None:
        return judge_condition("DynamoGraphDeployment", obj, "Ready")
    return judge_field("DynamoGraphDeployment", obj, "state", ("successful", "ready"), ("failed",))


def _judge(snapshot: Snapshot) -> Verdict:
    found, failure, evidence = _llmd(snapshot)
    parts = [found] if found else []
    faults: list[str] = []
    dynamo_note = ""
    graphs = reconciliation(_judge_graph(g) for g in snapshot.objects(DYNAMO_CRD))
    if crd_established(snapshot, DYNAMO_CRD):
        evidence.append(f"CRD {DYNAMO_CRD} Established")
        faults = [j.text for j in graphs.neglected + graphs.failed]
        if graphs.live:
            parts.append(f"NVIDIA Dynamo serving ({names_list((j.text for j in graphs.live), 3)})")
            evidence += [j.text for j in graphs.live]
        elif faults:
            dynamo_note = f"NVIDIA Dynamo installed but no DynamoGraphDeployment is ready: {names_list(faults)}"
        else:
            dynamo_note = "NVIDIA Dynamo installed (no DynamoGraphDeployment)"
    if parts:
        parts += [p for p in (failure, dynamo_note) if p]
        return Verdict(
            ID,
            PARTIAL,
            NEEDS_HARDWARE_TEST,
            f"{'; '.join(parts)}; {HARDWARE}",
            tuple(capped(evidence)),
            tier=CONTROLLER_STATUS,
            faults=tuple(faults),
        )
    if dynamo_note and not faults and not failure:
        return presence_only(
            ID,
            f"{dynamo_note}: Implemented needs a DynamoGraphDeployment its operator reports ready (then {HARDWARE})",
            evidence,
        )
    if failure or faults:
        reason = PREFILL_DECODE_INCOMPLETE if failure else CRS_NOT_RECONCILED if graphs.neglected else RECONCILE_FAILED
        message = "; ".join(p for p in (failure, dynamo_note) if p)
        return Verdict(ID, NOT_IMPLEMENTED, reason, message, tuple(evidence), faults=tuple(faults))
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_DISAGGREGATED_SERVING,
        f"no disaggregated inference stack found: no pods labelled {ROLE_LABEL}=prefill/decode (llm-d) and no "
        f"{DYNAMO_CRD} CRD (NVIDIA Dynamo)",
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
