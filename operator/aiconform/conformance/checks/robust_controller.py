"""robust_controller (KAR-0063; MUST since 1.33).

Asks: prove that at least one complex AI operator with a CRD (e.g. Ray, Kubeflow) can be installed and functions
reliably: its pods run, its webhooks are operational, its custom resources are reconciled.

We know these operators: KubeRay, Kubeflow Trainer (v2), Kubeflow Training Operator (v1), KServe, LeaderWorkerSet
and KAITO (Kueue is scheduling, see gang_scheduling). An operator is installed when one of its CRDs exists. Its
controller Deployment is found by name (also under a Helm release prefix), labels or image: 0 available replicas
is `ControllerUnavailable`; not finding it is not a failure by itself. What shows it *functions* is the status it
wrote on its custom resources, current for their generation:
- KubeRay: a RayCluster with `state: ready` (`status.observedGeneration` not behind); `state: failed` is a failure;
- the others: a custom resource whose status (a condition's or `status.observedGeneration`) is current and that
  reports no failure (`Ready`/`Available`/`Succeeded`=False or `Failed`=True). aiconform watches RayClusters; the
  other operators' resources are not in the source table yet, so they reach presence only (declare the
  reconcile test with evidence in spec.requirements).

Verdicts:
- Implemented (tier ControllerStatus): an operator with all CRDs Established, no controller down, webhooks backed
  by Services, and a custom resource it reconciled at its current generation, none neglected. Reconciling a fresh
  CR (a CPU RayJob to Complete) and an invalid CR denied under `dryRun=All` are workload tests, not run.
- Partially Implemented: installed and healthy but no custom resource vouches (`PresenceOnly`, tier APIPresence);
  custom resources without status or with a stale one (`CRsNotReconciled`) or reporting failure
  (`ReconcileFailed`), named in faults; `CRDsMissing`, `ControllerUnavailable`, `WebhookServiceMissing` naming
  what is missing.
- Not Implemented: no operator installed (`NoAIOperator`).
- Unknown (`Unreadable`): not Implemented and crds, deployments, webhooks, services or rayclusters could not be
  listed.
- N/A: never (a MUST).

Snapshot: `crds`, `deployments`, `validating_webhooks`, `services`; `custom[<crd name>]` for the CRDs below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    ControllerMatch,
    Judged,
    Problem,
    Stack,
    StackHealth,
    assess_stack,
    capped,
    condition,
    conditions,
    from_problems,
    judge_field,
    names_list,
    observed_behind,
    presence_only,
    reconciliation,
    ref,
    status_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRS_NOT_RECONCILED,
    IMPLEMENTED,
    NO_AI_OPERATOR,
    NOT_IMPLEMENTED,
    PARTIAL,
    RECONCILE_FAILED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "robust_controller"
RAYCLUSTERS = "rayclusters.ray.io"


def judge_generic(kind: str, obj: Obj) -> Judged:
    """A custom resource of an operator without a known status shape: current status and no failure reported."""
    obj_ref = ref(kind, obj)
    status = status_of(obj)
    if not status:
        return Judged(obj_ref, "unreconciled", "has no status (its operator never reconciled it)")
    lag = observed_behind(obj, next(iter(conditions(obj)), None))
    if lag:
        return Judged(obj_ref, "stale", f"status is not current ({lag})")
    for type_, bad in (("Ready", "False"), ("Available", "False"), ("Succeeded", "False"), ("Failed", "True")):
        cond = condition(obj, type_)
        if cond is not None and str(cond.get("status")) == bad:
            return Judged(obj_ref, "failed", f"{type_}={bad} ({cond.get('reason') or cond.get('message') or ''})")
    current = "observedGeneration" in status or any("observedGeneration" in c for c in conditions(obj))
    if current:
        return Judged(obj_ref, "live", "status current for its generation")
    return Judged(obj_ref, "pending", "status without observedGeneration")


def _raycluster(kind: str, obj: Obj) -> Judged:
    return judge_field(kind, obj, "state", ("ready",), ("failed",))


@dataclass(frozen=True)
class Operator:
    stack: Stack
    kinds: tuple[tuple[str, str], ...]  # (crd name, Kind) of resources it reconciles
    judge: Callable[[str, Obj], Judged] = judge_generic


OPERATORS: tuple[Operator, ...] = (
    Operator(
        Stack(
            "KubeRay",
            (RAYCLUSTERS, "rayjobs.ray.io"),
            ControllerMatch(
                names=("kuberay-operator",),
                labels=(("app.kubernetes.io/name", "kuberay-operator"),),
                images=("kuberay/operator",),
            ),
            "kuberay-operator",
            ("ray.io",),
        ),
        ((RAYCLUSTERS, "RayCluster"),),
        _raycluster,
    ),
    Operator(
        Stack(
            "Kubeflow Trainer",
            ("trainjobs.trainer.kubeflow.org",),
            ControllerMatch(
                names=("kubeflow-trainer-controller-manager",),
                images=("kubeflow/trainer/trainer-controller-manager",),
            ),
            "kubeflow-trainer-controller-manager",
            ("trainer.kubeflow.org",),
        ),
        (("trainjobs.trainer.kubeflow.org", "TrainJob"),),
    ),
    Operator(
        Stack(
            "Kubeflow Training Operator",
            ("pytorchjobs.kubeflow.org",),
            ControllerMatch(names=("training-operator",), images=("kubeflow/training-operator",)),
            "training-operator",
            ("kubeflow.org",),
        ),
        (("pytorchjobs.kubeflow.org", "PyTorchJob"),),
    ),
    Operator(
        Stack(
            "KServe",
            ("inferenceservices.serving.kserve.io",),
            ControllerMatch(names=("kserve-controller-manager",), images=("kserve/kserve-controller",)),
            "kserve-controller-manager",
            ("serving.kserve.io",),
        ),
        (("inferenceservices.serving.kserve.io", "InferenceService"),),
    ),
    Operator(
        Stack(
            "LeaderWorkerSet",
            ("leaderworkersets.leaderworkerset.x-k8s.io",),
            ControllerMatch(names=("lws-controller-manager",), images=("lws/lws",)),
            "lws-controller-manager",
            ("leaderworkerset.x-k8s.io",),
        ),
        (("leaderworkersets.leaderworkerset.x-k8s.io", "LeaderWorkerSet"),),
    ),
    Operator(
        Stack(
            "KAITO",
            ("workspaces.kaito.sh",),
            ControllerMatch(names=("kaito-workspace",), images=("kaito/workspace",)),
            "kaito-workspace",
            ("kaito.sh",),
        ),
        (("workspaces.kaito.sh", "Workspace"),),
    ),
)
SOURCES = ("crds", "deployments", "validating_webhooks", "services", RAYCLUSTERS)


def _assess(snapshot: Snapshot, op: Operator) -> StackHealth:
    judged = [op.judge(kind, o) for crd, kind in op.kinds for o in snapshot.objects(crd)]
    return assess_stack(snapshot, op.stack).with_reconciliation(reconciliation(judged))


def _live(healthy: list[StackHealth]) -> Verdict:
    labels = ", ".join(h.stack.label for h in healthy)
    live = [j.text for h in healthy for j in h.reconciled.live]
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{labels}: custom resources reconciled at their current generation ({names_list(live, 3)}); CRDs "
        "Established, webhooks backed by Services; reconciling a fresh CR and an invalid CR rejected under "
        "dryRun=All are workload tests",
        capped([e for h in healthy for e in h.evidence] + live),
        tier=CONTROLLER_STATUS,
    )


def _judge(snapshot: Snapshot) -> Verdict:
    results = [_assess(snapshot, op) for op in OPERATORS]
    installed = [r for r in results if r.present]
    live = [r for r in installed if r.live]
    if live:
        return _live(live)
    if not installed:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            NO_AI_OPERATOR,
            "no AI operator installed (looked for "
            f"{', '.join(op.stack.label for op in OPERATORS)}): install one, e.g. KubeRay or Kubeflow Trainer",
        )
    quiet = next((r for r in installed if r.healthy and not r.reconciled.judged), None)
    if quiet is not None:
        return presence_only(
            ID,
            f"{quiet.stack.label} is installed ({names_list(quiet.evidence, 3)}) but no custom resource shows it "
            f"reconciling; Implemented needs one with a status it wrote, current for its generation"
            + (" (e.g. a RayCluster in state ready)" if quiet.stack.label == "KubeRay" else ""),
            quiet.evidence,
        )
    best = min(installed, key=lambda r: (len(r.problems), len(r.reconciled.neglected) + len(r.reconciled.failed)))
    problems = list(best.problems)
    neglected, failed = best.reconciled.neglected, best.reconciled.failed
    if neglected:
        problems.append(
            Problem(
                CRS_NOT_RECONCILED,
                f"{best.stack.label} has not reconciled {names_list(j.text for j in neglected)}: is the controller "
                "running?",
            )
        )
    if failed:
        problems.append(Problem(RECONCILE_FAILED, f"{best.stack.label} reports {names_list(j.text for j in failed)}"))
    if not problems:  # pending statuses only
        problems.append(
            Problem(
                CRS_NOT_RECONCILED,
                f"{best.stack.label}: no custom resource reconciled to success yet "
                f"({names_list(j.text for j in best.reconciled.judged)})",
            )
        )
    others = [r.stack.label for r in installed if r is not best]
    if others:
        problems.append(Problem(problems[0].reason, f"also installed but not shown working: {', '.join(others)}"))
    verdict = from_problems(ID, PARTIAL, problems, best.evidence)
    return Verdict(
        verdict.requirement,
        verdict.status,
        verdict.reason,
        verdict.message,
        verdict.evidence,
        faults=tuple(j.text for j in neglected + failed),
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
