"""gang_scheduling (KAR-0053; MUST since 1.33).

Asks: the platform allows installing and successfully operating at least one gang scheduling solution that
ensures all-or-nothing scheduling for distributed AI workloads (Kueue, Volcano, ...).

We verify, for Kueue and for Volcano, that the solution is installed and operating as far as the API shows:
- Kueue: CRDs clusterqueues, localqueues, resourceflavors, workloads `.kueue.x-k8s.io` Established; a controller
  Deployment available (`kueue-controller-manager`, or in namespace `kueue-system` labelled
  `app.kubernetes.io/name=kueue` / `control-plane=controller-manager`); its validating webhooks backed by a
  Service; and, when spec.components.kueue is enabled, our ClusterQueue exists and is `Active`.
- Volcano: CRDs `jobs.batch.volcano.sh`, `podgroups.scheduling.volcano.sh` Established, a `volcano-scheduler`
  Deployment available, its webhooks backed by a Service.
One healthy solution: Implemented, `APIVerified`. The all-or-nothing canary (an N-pod job under a quota below N
stays unadmitted, then starts whole) is a CPU-only workload test, mentioned, not run. Otherwise the problems of the
installed solution are reported: `CRDsMissing`, `ControllerUnavailable`, `WebhookServiceMissing`,
`ClusterQueueMissing`, `ClusterQueueInactive`; nothing installed: `CRDsMissing`.

Snapshot: `crds`, `deployments`, `validating_webhooks`, `services`; `custom["clusterqueues.kueue.x-k8s.io"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Problem,
    Stack,
    StackHealth,
    assess_stack,
    condition_detail,
    condition_true,
    from_problems,
    labels,
    name,
    namespace,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CLUSTER_QUEUE_INACTIVE,
    CLUSTER_QUEUE_MISSING,
    CRDS_MISSING,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "gang_scheduling"
KUEUE_GROUP = "kueue.x-k8s.io"
CLUSTER_QUEUES = f"clusterqueues.{KUEUE_GROUP}"


def _kueue_controller(dep: Obj) -> bool:
    if name(dep) == "kueue-controller-manager":
        return True
    dep_labels = labels(dep)
    return namespace(dep) == "kueue-system" and (
        dep_labels.get("app.kubernetes.io/name") == "kueue" or dep_labels.get("control-plane") == "controller-manager"
    )


def _volcano_scheduler(dep: Obj) -> bool:
    return "volcano-scheduler" in name(dep)


KUEUE = Stack(
    "Kueue",
    tuple(f"{p}.{KUEUE_GROUP}" for p in ("clusterqueues", "localqueues", "resourceflavors", "workloads")),
    _kueue_controller,
    "kueue-controller-manager",
    (KUEUE_GROUP,),
)
VOLCANO = Stack(
    "Volcano",
    ("jobs.batch.volcano.sh", "podgroups.scheduling.volcano.sh"),
    _volcano_scheduler,
    "volcano-scheduler",
    ("batch.volcano.sh", "scheduling.volcano.sh"),
)


def _cluster_queue_problem(snapshot: Snapshot, spec: ProfileSpec) -> Problem | None:
    queue = spec.components.kueue.cluster_queue
    found = next((q for q in snapshot.objects(CLUSTER_QUEUES) if name(q) == queue), None)
    if found is None:
        return Problem(
            CLUSTER_QUEUE_MISSING,
            f"ClusterQueue/{queue} (spec.components.kueue.clusterQueue) does not exist",
        )
    if not condition_true(found, "Active"):
        return Problem(
            CLUSTER_QUEUE_INACTIVE, f"ClusterQueue/{queue} is not active: {condition_detail(found, 'Active')}"
        )
    return None


def _kueue(snapshot: Snapshot, spec: ProfileSpec) -> StackHealth:
    health = assess_stack(snapshot, KUEUE)
    if not spec.components.kueue.enabled or not health.present:
        return health
    problem = _cluster_queue_problem(snapshot, spec)
    if problem is None:
        return StackHealth(
            KUEUE,
            True,
            health.problems,
            (*health.evidence, f"ClusterQueue/{spec.components.kueue.cluster_queue} Active"),
        )
    return StackHealth(KUEUE, True, (*health.problems, problem), health.evidence)


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    results = [_kueue(snapshot, spec), assess_stack(snapshot, VOLCANO)]
    healthy = next((r for r in results if r.healthy), None)
    if healthy is not None:
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"{healthy.stack.label} is installed and its controller is available; the all-or-nothing admission "
            "canary is a workload test",
            healthy.evidence,
        )
    installed = next((r for r in results if r.present), None)
    if installed is None:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            "no gang scheduler installed: neither the Kueue (kueue.x-k8s.io) nor the Volcano CRDs exist; install "
            "Kueue (and enable spec.components.kueue) or Volcano",
        )
    return from_problems(ID, NOT_IMPLEMENTED, installed.problems, installed.evidence)
