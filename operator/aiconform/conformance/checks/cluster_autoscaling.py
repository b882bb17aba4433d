"""cluster_autoscaling (KAR-0055; conditional MUST since 1.33).

Asks: "If the platform provides a cluster autoscaler or an equivalent mechanism, it must be able to scale up/down
node groups containing specific accelerator types based on pending pods requesting those accelerators."

We verify the API-visible part: a Cluster Autoscaler Deployment (name contains `cluster-autoscaler`) is
available, or Karpenter is (CRD `nodepools.karpenter.sh` Established, a `karpenter` Deployment available, its
webhooks backed by a Service; NodePools that mention the accelerator resource are reported).

Decision: a healthy autoscaler is Partially Implemented, `NeedsHardwareTest`. The requirement is about scaling
*accelerator* node groups on pending accelerator pods, which only the N+1 scale-up/scale-down test on real
node groups proves; run it and declare the result with evidence in spec.requirements. An autoscaler that exists
but is not available: Not Implemented (`ControllerUnavailable`). None found: Not Implemented (`NoAutoscaler`);
managed autoscalers (GKE, EKS Auto Mode, AKS NAP) run outside the cluster and are invisible here, and fixed
on-prem pools make the requirement N/A: both are declared in spec.requirements.

Snapshot: `deployments`, `crds`, `validating_webhooks`, `services`; optionally `custom["nodepools.karpenter.sh"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Stack,
    as_map,
    assess_stack,
    deployment_name_contains,
    from_problems,
    name,
    names_list,
    spec_of,
)
from aiconform.conformance.verdict import NEEDS_HARDWARE_TEST, NO_AUTOSCALER, NOT_IMPLEMENTED, PARTIAL, Verdict
from aiconform.kube.snapshot import Obj, Snapshot

ID = "cluster_autoscaling"
NODEPOOLS = "nodepools.karpenter.sh"
CLUSTER_AUTOSCALER = Stack(
    "Cluster Autoscaler", (), deployment_name_contains("cluster-autoscaler"), "cluster-autoscaler"
)
KARPENTER = Stack("Karpenter", (NODEPOOLS,), deployment_name_contains("karpenter"), "karpenter", ("karpenter.sh",))


def _mentions_accelerator(pool: Obj, resource: str) -> bool:
    """A NodePool whose limits or requirements mention the accelerator resource or GPUs."""
    pool_spec = spec_of(pool)
    if resource in as_map(pool_spec.get("limits")):
        return True
    template = as_map(as_map(pool_spec.get("template")).get("spec"))
    return any("gpu" in str(as_map(r).get("key", "")).lower() for r in template.get("requirements") or [])


def _nodepool_note(snapshot: Snapshot, resource: str) -> str:
    pools = snapshot.objects(NODEPOOLS)
    if not pools:
        return ""
    gpu_pools = [name(p) for p in pools if _mentions_accelerator(p, resource)]
    if gpu_pools:
        return f" (NodePools for accelerators: {names_list(gpu_pools)})"
    return f" (no NodePool of {names_list(name(p) for p in pools)} mentions {resource} or a GPU requirement)"


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    results = [assess_stack(snapshot, CLUSTER_AUTOSCALER), assess_stack(snapshot, KARPENTER)]
    healthy = next((r for r in results if r.healthy), None)
    if healthy is not None:
        note = _nodepool_note(snapshot, spec.accelerators.resource_name) if healthy.stack is KARPENTER else ""
        return Verdict(
            ID,
            PARTIAL,
            NEEDS_HARDWARE_TEST,
            f"{healthy.stack.label} is available{note}; scaling an accelerator node group up on pending GPU pods "
            f"and back down needs the hardware test (declare the result in spec.requirements.{ID} with evidence)",
            healthy.evidence,
        )
    installed = next((r for r in results if r.present), None)
    if installed is not None:
        return from_problems(ID, NOT_IMPLEMENTED, installed.problems, installed.evidence)
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_AUTOSCALER,
        "no cluster autoscaler found (no cluster-autoscaler Deployment, no Karpenter); a managed autoscaler outside "
        f"the cluster must be declared in spec.requirements.{ID} with evidence",
    )
