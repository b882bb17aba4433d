"""disaggregated_inference (KAR-0041; SHOULD since 1.36).

Asks: demonstrate that the platform can install and run a disaggregated inference solution (vLLM, SGLang,
llm-d, Dynamo, ...) with separate, separately scalable instances for prefill and decode.

We verify the API-visible part:
- llm-d: Ready pods labelled `llm-d.ai/role=prefill` and Ready pods labelled `llm-d.ai/role=decode`
  (one role only, or none Ready: `PrefillDecodeIncomplete`, naming what is missing);
- or NVIDIA Dynamo: the CRD `dynamographdeployments.nvidia.com` is Established (with the number of
  DynamoGraphDeployments as evidence).
Found: Partially Implemented, `NeedsHardwareTest`: only a request that goes through the Gateway and shows up in
both a prefill and a decode worker's logs proves disaggregated serving, and that needs GPUs. Nothing found:
Not Implemented (`NoDisaggregatedServing`).

Snapshot: `pods` (all namespaces, or at least those labelled `llm-d.ai/role`); `crds`; optionally
`custom["dynamographdeployments.nvidia.com"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import capped, crd_established, labels, names_list, plural, pod_ready, ref
from aiconform.conformance.verdict import (
    NEEDS_HARDWARE_TEST,
    NO_DISAGGREGATED_SERVING,
    NOT_IMPLEMENTED,
    PARTIAL,
    PREFILL_DECODE_INCOMPLETE,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "disaggregated_inference"
ROLE_LABEL = "llm-d.ai/role"
ROLES = ("prefill", "decode")
DYNAMO_CRD = "dynamographdeployments.nvidia.com"


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


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    found, failure, evidence = _llmd(snapshot)
    parts = [found] if found else []
    if crd_established(snapshot, DYNAMO_CRD):
        count = len(snapshot.objects(DYNAMO_CRD))
        parts.append(f"NVIDIA Dynamo installed ({plural(count, 'DynamoGraphDeployment')})")
        evidence.append(f"CRD {DYNAMO_CRD} Established")
    if parts:
        parts += [failure] if failure else []
        return Verdict(
            ID,
            PARTIAL,
            NEEDS_HARDWARE_TEST,
            f"{'; '.join(parts)}; a request traced through both a prefill and a decode worker needs the hardware test",
            tuple(evidence),
        )
    if failure:
        return Verdict(ID, NOT_IMPLEMENTED, PREFILL_DECODE_INCOMPLETE, failure, tuple(evidence))
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_DISAGGREGATED_SERVING,
        f"no disaggregated inference stack found: no pods labelled {ROLE_LABEL}=prefill/decode (llm-d) and no "
        f"{DYNAMO_CRD} CRD (NVIDIA Dynamo)",
    )
