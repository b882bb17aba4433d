"""robust_controller (KAR-0063; MUST since 1.33).

Asks: prove that at least one complex AI operator with a CRD (e.g. Ray, Kubeflow) can be installed and functions
reliably: its pods run, its webhooks are operational, its custom resources are reconciled.

We know these operators: KubeRay, Kubeflow Trainer (v2), Kubeflow Training Operator (v1), KServe, LeaderWorkerSet
and KAITO (Kueue is scheduling, see gang_scheduling). An operator is considered when one of its CRDs exists, and
verified when:
- all its CRDs are Established (`CRDsMissing`);
- its controller Deployment (well-known name) has an available replica (`ControllerUnavailable`);
- every validating webhook covering its API groups points at an existing Service or a URL
  (`WebhookServiceMissing`; ready endpoints are not in the snapshot);
- if the snapshot lists its custom resources, at least one of them carries a status (`CRsNotReconciled`).
One operator fully healthy: Implemented, `APIVerified`. Reconciling a fresh CR (a CPU RayJob to Complete) and
an invalid CR denied under `dryRun=All` are workload tests, mentioned, not run. Installed but unhealthy:
Partially Implemented naming what is missing. None installed: Not Implemented, `NoAIOperator`.

Snapshot: `crds`, `deployments`, `validating_webhooks`, `services`; optionally `custom[<crd name>]` for the CRDs
below, to see reconciled status.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Problem,
    Stack,
    StackHealth,
    assess_stack,
    deployment_named,
    from_problems,
    plural,
    status_of,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRS_NOT_RECONCILED,
    IMPLEMENTED,
    NO_AI_OPERATOR,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Snapshot

ID = "robust_controller"

OPERATORS: tuple[Stack, ...] = (
    Stack(
        "KubeRay",
        ("rayclusters.ray.io", "rayjobs.ray.io"),
        deployment_named("kuberay-operator"),
        "kuberay-operator",
        ("ray.io",),
    ),
    Stack(
        "Kubeflow Trainer",
        ("trainjobs.trainer.kubeflow.org",),
        deployment_named("kubeflow-trainer-controller-manager"),
        "kubeflow-trainer-controller-manager",
        ("trainer.kubeflow.org",),
    ),
    Stack(
        "Kubeflow Training Operator",
        ("pytorchjobs.kubeflow.org",),
        deployment_named("training-operator"),
        "training-operator",
        ("kubeflow.org",),
    ),
    Stack(
        "KServe",
        ("inferenceservices.serving.kserve.io",),
        deployment_named("kserve-controller-manager"),
        "kserve-controller-manager",
        ("serving.kserve.io",),
    ),
    Stack(
        "LeaderWorkerSet",
        ("leaderworkersets.leaderworkerset.x-k8s.io",),
        deployment_named("lws-controller-manager"),
        "lws-controller-manager",
        ("leaderworkerset.x-k8s.io",),
    ),
    Stack("KAITO", ("workspaces.kaito.sh",), deployment_named("kaito-workspace"), "kaito-workspace", ("kaito.sh",)),
)


def _reconciled(snapshot: Snapshot, health: StackHealth) -> StackHealth:
    """Adds `CRsNotReconciled` when the operator's listed custom resources all lack a status."""
    objects = [o for crd in health.stack.crds for o in snapshot.objects(crd)]
    if not objects:
        return health
    with_status = [o for o in objects if status_of(o)]
    if with_status:
        note = f"{plural(len(with_status), 'custom resource')} of {health.stack.label} with status"
        return StackHealth(health.stack, health.present, health.problems, (*health.evidence, note))
    problem = Problem(
        CRS_NOT_RECONCILED,
        f"none of the {plural(len(objects), 'custom resource')} of {health.stack.label} has a status: is the "
        "controller reconciling?",
    )
    return StackHealth(health.stack, health.present, (*health.problems, problem), health.evidence)


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    results = [_reconciled(snapshot, assess_stack(snapshot, op)) for op in OPERATORS]
    installed = [r for r in results if r.present]
    healthy = [r for r in installed if r.healthy]
    if healthy:
        labels = ", ".join(r.stack.label for r in healthy)
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"{labels}: CRDs Established, controller available, webhooks backed by Services; reconciling a fresh "
            "CR and an invalid CR rejected under dryRun=All are workload tests",
            tuple(e for r in healthy for e in r.evidence),
        )
    if not installed:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            NO_AI_OPERATOR,
            "no AI operator installed (looked for "
            f"{', '.join(op.label for op in OPERATORS)}): install one, e.g. KubeRay or Kubeflow Trainer",
        )
    best = min(installed, key=lambda r: len(r.problems))
    problems = [Problem(p.reason, p.message) for p in best.problems]
    others = [r.stack.label for r in installed if r is not best]
    if others:
        problems.append(Problem(problems[0].reason, f"also installed but unhealthy: {', '.join(others)}"))
    return from_problems(ID, PARTIAL, problems, best.evidence)
