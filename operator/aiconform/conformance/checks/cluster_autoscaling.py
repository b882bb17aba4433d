"""cluster_autoscaling (KAR-0055; conditional MUST since 1.33).

Asks: "If the platform provides a cluster autoscaler or an equivalent mechanism, it must be able to scale up/down
node groups containing specific accelerator types based on pending pods requesting those accelerators."

We look for the Cluster Autoscaler (a Deployment named `cluster-autoscaler`, under any Helm release prefix, or
running an `autoscaling/cluster-autoscaler` image) and Karpenter (CRD `nodepools.karpenter.sh` Established, a
controller Deployment by name or `karpenter/controller` image, webhooks backed by a Service). What vouches for
Karpenter is its own status: a NodePool with `Ready=True` at its current generation (NodePools that mention the
accelerator resource are reported). The Cluster Autoscaler writes no status aiconform reads (its status
ConfigMap is not watched), so it stays at presence.

Verdicts (the scale test is the part only hardware proves: at most Partially Implemented unless declared):
- Partially Implemented, `NeedsHardwareTest` (tier ControllerStatus): a Karpenter NodePool Ready at its current
  generation; scaling an accelerator node group up on pending GPU pods and back down is the N+1 test on real
  node groups: run it and declare the result with evidence in spec.requirements.
- Partially Implemented, `PresenceOnly` (tier APIPresence): a Cluster Autoscaler Deployment with available
  replicas, or Karpenter with no NodePool yet.
- Not Implemented: an autoscaler whose Deployments all have 0 available replicas (`ControllerUnavailable`);
  NodePools without status or with a stale one (`CRsNotReconciled`) or `Ready=False` (`ReconcileFailed`), named
  in faults; none found (`NoAutoscaler`). Managed autoscalers (GKE, EKS Auto Mode, AKS NAP) run outside the
  cluster and are invisible here, and fixed on-prem pools make the requirement N/A: both are declared in
  spec.requirements.
- Unknown (`Unreadable`): not Implemented and deployments, crds, webhooks, services or nodepools could not be
  listed.

Snapshot: `deployments`, `crds`, `validating_webhooks`, `services`; `custom["nodepools.karpenter.sh"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    ControllerMatch,
    Stack,
    as_map,
    assess_stack,
    capped,
    from_problems,
    judge_condition,
    name,
    names_list,
    presence_only,
    reconciliation,
    spec_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    CRS_NOT_RECONCILED,
    NEEDS_HARDWARE_TEST,
    NO_AUTOSCALER,
    NOT_IMPLEMENTED,
    PARTIAL,
    RECONCILE_FAILED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "cluster_autoscaling"
NODEPOOLS = "nodepools.karpenter.sh"
CLUSTER_AUTOSCALER = Stack(
    "Cluster Autoscaler",
    (),
    ControllerMatch(name_contains=("cluster-autoscaler",), images=("autoscaling/cluster-autoscaler",)),
    "cluster-autoscaler",
)
KARPENTER = Stack(
    "Karpenter",
    (NODEPOOLS,),
    ControllerMatch(name_contains=("karpenter",), images=("karpenter/controller",)),
    "karpenter",
    ("karpenter.sh",),
)
SOURCES = ("deployments", "crds", "validating_webhooks", "services", NODEPOOLS)
DECLARE = f"declare the result in spec.requirements.{ID} with evidence"


def _mentions_accelerator(pool: Obj, resource: str) -> bool:
    """A NodePool whose limits or requirements mention the accelerator resource or GPUs."""
    pool_spec = spec_of(pool)
    if resource in as_map(pool_spec.get("limits")):
        return True
    template = as_map(as_map(pool_spec.get("template")).get("spec"))
    return any("gpu" in str(as_map(r).get("key", "")).lower() for r in template.get("requirements") or [])


def _nodepool_note(pools: list[Obj], resource: str) -> str:
    gpu_pools = [name(p) for p in pools if _mentions_accelerator(p, resource)]
    if gpu_pools:
        return f" (NodePools for accelerators: {names_list(gpu_pools)})"
    return f" (no NodePool of {names_list(name(p) for p in pools)} mentions {resource} or a GPU requirement)"


def _karpenter(snapshot: Snapshot, spec: ProfileSpec) -> Verdict | None:
    health = assess_stack(snapshot, KARPENTER)
    if not health.present:
        return None
    if health.problems:
        return from_problems(ID, NOT_IMPLEMENTED, health.problems, health.evidence)
    pools = list(snapshot.objects(NODEPOOLS))
    judged = reconciliation(judge_condition("NodePool", p, "Ready") for p in pools)
    if not pools:
        return presence_only(
            ID,
            f"Karpenter is installed ({names_list(health.evidence, 3)}) but has no NodePool, so it provisions "
            "nothing; Implemented needs a NodePool it reports Ready, then the scale test on accelerator nodes",
            health.evidence,
        )
    note = _nodepool_note(pools, spec.accelerators.resource_name)
    bad = judged.neglected + judged.failed
    if judged.live:
        faults = f"; not Ready: {names_list(j.text for j in bad)}" if bad else ""
        return Verdict(
            ID,
            PARTIAL,
            NEEDS_HARDWARE_TEST,
            f"Karpenter reports {names_list((j.text for j in judged.live), 3)}{note}{faults}; scaling an accelerator "
            f"node group up on pending GPU pods and back down needs the hardware test ({DECLARE})",
            capped([*health.evidence, *(j.text for j in judged.live)]),
            tier=CONTROLLER_STATUS,
            faults=tuple(j.text for j in bad),
        )
    reason = CRS_NOT_RECONCILED if judged.neglected else RECONCILE_FAILED
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        reason,
        f"Karpenter is installed but no NodePool is Ready at its current generation: "
        f"{names_list(j.text for j in judged.judged)}",
        health.evidence,
        faults=tuple(j.text for j in bad),
    )


def _judge(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    karpenter = _karpenter(snapshot, spec)
    if karpenter is not None and karpenter.reason == NEEDS_HARDWARE_TEST:
        return karpenter
    ca = assess_stack(snapshot, CLUSTER_AUTOSCALER)
    if ca.present and not ca.problems:
        return presence_only(
            ID,
            f"a Cluster Autoscaler runs ({names_list(ca.evidence, 3)}) but writes no status aiconform reads; "
            f"scaling an accelerator node group up on pending GPU pods and back down needs the hardware test "
            f"({DECLARE})",
            ca.evidence,
        )
    if karpenter is not None:
        return karpenter
    if ca.present:
        return from_problems(ID, NOT_IMPLEMENTED, ca.problems, ca.evidence)
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_AUTOSCALER,
        "no cluster autoscaler found (no cluster-autoscaler Deployment, no Karpenter); a managed autoscaler outside "
        f"the cluster must be declared in spec.requirements.{ID} with evidence",
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot, spec), snapshot, *SOURCES)
