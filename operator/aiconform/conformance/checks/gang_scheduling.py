"""gang_scheduling (KAR-0053; MUST since 1.33).

Asks: the platform allows installing and successfully operating at least one gang scheduling solution that
ensures all-or-nothing scheduling for distributed AI workloads (Kueue, Volcano, ...).

We know Kueue, Volcano, NVIDIA KAI Scheduler, Apache YuniKorn and the scheduler-plugins coscheduling plugin. A
solution is installed when its CRDs exist (YuniKorn has none: its scheduler Deployment). Controller Deployments are
found by name (also under a Helm release prefix), labels or image; a Deployment with 0 available replicas is
`ControllerUnavailable`, validating webhooks of its API groups must point at an existing Service
(`WebhookServiceMissing`), and all of its CRDs must be Established (`CRDsMissing`). What shows the solution
*operates* is a status its controller or scheduler wrote, current for the object's generation:
- Kueue: a ClusterQueue with `Active=True` (condition observedGeneration >= generation);
- Volcano: a PodGroup (`scheduling.volcano.sh`) in phase Inqueue, Running or Completed;
- scheduler-plugins coscheduling: a PodGroup (`scheduling.x-k8s.io`) in phase Scheduled, Running or Finished
  (Failed is a failure);
- any of them: a pod its scheduler bound (`spec.schedulerName` volcano, kai-scheduler, yunikorn or
  scheduler-plugins-scheduler; a node set and `PodScheduled=True`).

Verdicts:
- Implemented (tier ControllerStatus): one solution healthy with such a status and none of its objects neglected.
  With spec.components.kueue enabled, our ClusterQueue must be among the Active ones (`ClusterQueueMissing`,
  `ClusterQueueInactive`). The all-or-nothing canary (an N-pod job under a quota below N stays unadmitted, then
  starts whole) is a workload test, mentioned, not run.
- Partially Implemented, `PresenceOnly` (tier APIPresence): installed and nothing wrong, but no status vouches yet
  (no ClusterQueue, no PodGroup, no pod scheduled); the message says what would.
- Not Implemented (Partially Implemented when another of its objects is live): `CRsNotReconciled` when its
  objects have no status or one older than their spec (named in faults: the controller is not reconciling);
  `ClusterQueueInactive` when its ClusterQueues all report `Active=False`/Unknown, `ReconcileFailed` when its
  PodGroups failed; `CRDsMissing`, `ControllerUnavailable`, `WebhookServiceMissing` for a broken install;
  nothing installed: `CRDsMissing`.
- Unknown (`Unreadable`): not Implemented and a source it reads could not be listed.
- N/A: never (a MUST).

Snapshot: `crds`, `deployments`, `validating_webhooks`, `services`, `pods`; `custom` ClusterQueues
(`kueue.x-k8s.io`), PodGroups (`scheduling.volcano.sh`, `scheduling.x-k8s.io`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    ControllerMatch,
    Judged,
    Problem,
    Reconciliation,
    Stack,
    StackHealth,
    assess_stack,
    capped,
    from_problems,
    judge_condition,
    judge_field,
    labels,
    names_list,
    namespace,
    presence_only,
    reconciliation,
    ref,
    scheduled_pods,
    spec_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CLUSTER_QUEUE_INACTIVE,
    CLUSTER_QUEUE_MISSING,
    CRDS_MISSING,
    CRS_NOT_RECONCILED,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    PARTIAL,
    RECONCILE_FAILED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "gang_scheduling"
KUEUE_GROUP = "kueue.x-k8s.io"
CLUSTER_QUEUES = f"clusterqueues.{KUEUE_GROUP}"
VOLCANO_PODGROUPS = "podgroups.scheduling.volcano.sh"
COSCHEDULING_PODGROUPS = "podgroups.scheduling.x-k8s.io"
SOURCES = (
    "crds",
    "deployments",
    "validating_webhooks",
    "services",
    "pods",
    CLUSTER_QUEUES,
    VOLCANO_PODGROUPS,
    COSCHEDULING_PODGROUPS,
)

_KUEUE_MATCH = ControllerMatch(
    names=("kueue-controller-manager",), labels=(("app.kubernetes.io/name", "kueue"),), images=("kueue/kueue",)
)


def _kueue_controller(dep: Obj) -> bool:
    return _KUEUE_MATCH(dep) or (
        namespace(dep) == "kueue-system" and labels(dep).get("control-plane") == "controller-manager"
    )


KUEUE = Stack(
    "Kueue",
    tuple(f"{p}.{KUEUE_GROUP}" for p in ("clusterqueues", "localqueues", "resourceflavors", "workloads")),
    _kueue_controller,
    "kueue-controller-manager",
    (KUEUE_GROUP,),
)
VOLCANO = Stack(
    "Volcano",
    ("jobs.batch.volcano.sh", VOLCANO_PODGROUPS),
    ControllerMatch(
        names=("volcano-scheduler",), name_contains=("volcano-scheduler",), images=("volcanosh/vc-scheduler",)
    ),
    "volcano-scheduler",
    ("batch.volcano.sh", "scheduling.volcano.sh"),
)
KAI = Stack(
    "KAI Scheduler",
    ("podgroups.scheduling.run.ai", "queues.scheduling.run.ai"),
    ControllerMatch(names=("kai-scheduler", "kai-scheduler-default"), images=("kai-scheduler/scheduler",)),
    "kai-scheduler",
    ("scheduling.run.ai",),
)
YUNIKORN = Stack(
    "Apache YuniKorn",
    (),
    ControllerMatch(names=("yunikorn-scheduler",), labels=(("app", "yunikorn"),), images=("apache/yunikorn",)),
    "yunikorn-scheduler",
)
COSCHEDULING = Stack(
    "scheduler-plugins coscheduling",
    (COSCHEDULING_PODGROUPS,),
    ControllerMatch(
        names=("scheduler-plugins-scheduler", "scheduler-plugins-controller"),
        images=("scheduler-plugins/kube-scheduler", "scheduler-plugins/controller"),
    ),
    "scheduler-plugins-scheduler",
    ("scheduling.x-k8s.io",),
)


@dataclass(frozen=True)
class Solution:
    stack: Stack
    schedulers: tuple[str, ...]  # spec.schedulerName of the pods it binds
    judge: Callable[[Snapshot], list[Judged]]  # its own objects, by the status its controller wrote
    next_tier: str  # what would vouch for it, for messages


def _kueue_queues(snapshot: Snapshot) -> list[Judged]:
    return [judge_condition("ClusterQueue", q, "Active") for q in snapshot.objects(CLUSTER_QUEUES)]


def _volcano_groups(snapshot: Snapshot) -> list[Judged]:
    return [
        judge_field("PodGroup", g, "phase", ("Inqueue", "Running", "Completed"))
        for g in snapshot.objects(VOLCANO_PODGROUPS)
    ]


def _coscheduling_groups(snapshot: Snapshot) -> list[Judged]:
    return [
        judge_field("PodGroup", g, "phase", ("Scheduled", "Running", "Finished"), ("Failed",))
        for g in snapshot.objects(COSCHEDULING_PODGROUPS)
    ]


def _nothing(snapshot: Snapshot) -> list[Judged]:
    return []


SOLUTIONS = (
    Solution(KUEUE, (), _kueue_queues, "a ClusterQueue the Kueue controller reports Active at its current generation"),
    Solution(
        VOLCANO,
        ("volcano",),
        _volcano_groups,
        "a PodGroup the Volcano scheduler moved to Inqueue/Running, or a pod it bound (schedulerName volcano)",
    ),
    Solution(KAI, ("kai-scheduler",), _nothing, "a pod bound by it (schedulerName kai-scheduler)"),
    Solution(YUNIKORN, ("yunikorn",), _nothing, "a pod bound by it (schedulerName yunikorn)"),
    Solution(
        COSCHEDULING,
        ("scheduler-plugins-scheduler",),
        _coscheduling_groups,
        "a PodGroup (scheduling.x-k8s.io) its controller moved to Scheduled/Running, or a pod bound by "
        "scheduler-plugins-scheduler",
    ),
)


def _judged(snapshot: Snapshot, solution: Solution) -> Reconciliation:
    pods = [
        Judged(ref("Pod", p), "live", f"bound by {spec_of(p).get('schedulerName')} (PodScheduled=True)")
        for p in scheduled_pods(snapshot, solution.schedulers)
    ]
    return reconciliation([*solution.judge(snapshot), *pods])


def _our_queue_problem(health: StackHealth, spec: ProfileSpec) -> Problem | None:
    """With spec.components.kueue enabled, the profile's ClusterQueue (ours, or the platform's it adopts by
    existingClusterQueue) must exist and be Active."""
    kueue = spec.components.kueue
    field = "existingClusterQueue" if kueue.existing_cluster_queue else "clusterQueue"
    queue = f"ClusterQueue/{kueue.existing_cluster_queue or kueue.cluster_queue}"
    ours = next((j for j in health.reconciled.judged if j.ref == queue), None)
    if ours is None:
        return Problem(CLUSTER_QUEUE_MISSING, f"{queue} (spec.components.kueue.{field}) does not exist")
    if ours.outcome != "live":
        reason = CRS_NOT_RECONCILED if ours.outcome in ("stale", "unreconciled") else CLUSTER_QUEUE_INACTIVE
        return Problem(reason, f"{queue} is not active: {ours.detail}")
    return None


def _assess(snapshot: Snapshot, spec: ProfileSpec, solution: Solution) -> StackHealth:
    health = assess_stack(snapshot, solution.stack).with_reconciliation(_judged(snapshot, solution))
    if solution.stack is KUEUE and spec.components.kueue.enabled and health.present:
        problem = _our_queue_problem(health, spec)
        if problem is not None:
            return StackHealth(health.stack, True, (*health.problems, problem), health.evidence, health.reconciled)
    return health


def _live(health: StackHealth) -> Verdict:
    live = health.reconciled.live
    failed = health.reconciled.failed
    note = f" ({len(failed)} other objects report failure: {names_list(j.text for j in failed)})" if failed else ""
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{health.stack.label} operates: {names_list((j.text for j in live), 3)}{note}; the all-or-nothing "
        "admission canary is a workload test",
        capped([*health.evidence, *(j.text for j in live)]),
        tier=CONTROLLER_STATUS,
    )


def _not_operating(health: StackHealth) -> Verdict:
    neglected, failed = health.reconciled.neglected, health.reconciled.failed
    faults = [j.text for j in neglected + failed]
    if neglected:
        reason = CRS_NOT_RECONCILED
        message = (
            f"{health.stack.label} is installed but its controller is not reconciling: "
            f"{names_list(j.text for j in neglected)}"
        )
    else:
        reason = CLUSTER_QUEUE_INACTIVE if health.stack is KUEUE else RECONCILE_FAILED
        message = f"{health.stack.label} is installed but reports failure: {names_list(j.text for j in failed)}"
    # Some objects live and others neglected: the controller runs but does not keep up (Partial).
    status = PARTIAL if health.reconciled.live else NOT_IMPLEMENTED
    return Verdict(ID, status, reason, message, health.evidence, faults=tuple(faults))


def _decide(results: list[tuple[Solution, StackHealth]]) -> Verdict:
    for _, health in results:
        if health.live:
            return _live(health)
    healthy = [(s, h) for s, h in results if h.healthy]
    quiet = next(((s, h) for s, h in healthy if not h.reconciled.judged), None)
    if quiet is not None:
        solution, health = quiet
        return presence_only(
            ID,
            f"{solution.stack.label} is installed ({names_list(health.evidence, 3) or 'its scheduler'}) but no status "
            f"its controller wrote shows it operating; Implemented needs {solution.next_tier}",
            health.evidence,
        )
    if healthy:
        return _not_operating(healthy[0][1])
    installed = [h for _, h in results if h.present]
    if not installed:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            "no gang scheduler installed: no Kueue (kueue.x-k8s.io), Volcano, KAI Scheduler (scheduling.run.ai), "
            "scheduler-plugins coscheduling (scheduling.x-k8s.io) CRDs and no YuniKorn scheduler; install one, "
            "e.g. Kueue (and enable spec.components.kueue)",
        )
    best = min(installed, key=lambda h: len(h.problems))
    faults = [j.text for j in best.reconciled.neglected]
    return dataclasses.replace(from_problems(ID, NOT_IMPLEMENTED, best.problems, best.evidence), faults=tuple(faults))


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    results = [(s, _assess(snapshot, spec, s)) for s in SOLUTIONS]
    return unless_unreadable(_decide(results), snapshot, *SOURCES)
