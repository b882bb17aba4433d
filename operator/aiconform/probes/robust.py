"""robust_controller through the installed AI operator (KubeRay, else LeaderWorkerSet): invalid custom resources
are refused at admission (server-side dry-runs: nothing is created), a minimal valid one is reconciled (the
operator writes its status for the current generation: both write `status.observedGeneration` on every
reconcile) and deleted cleanly (gone, its finalizers released).

The operator is the cluster's own; the probe never installs one: without the API of an operator it knows it
cannot run (the other operators robust_controller's check knows are named in the message), without the
operator's controller the reconcile wait times out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.kube.client import KubeApiError
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.sandbox import ProbeEnded, Sandbox, is_rbac_denial, not_permitted

REQUIREMENT = "robust_controller"
NAME = "canary"
# Room for the pod the operator makes (its requests must fit the template's) and nothing more.
QUOTA = {"pods": "2", "requests.cpu": "1", "requests.memory": "2Gi", "limits.cpu": "1", "limits.memory": "2Gi"}
NOT_COVERED = "Kubeflow Trainer, Kubeflow Training Operator, KServe, KAITO"


def pod_template(labels: dict[str, str], container: str, image: str) -> dict[str, Any]:
    """One container within the sandbox quota, restricted Pod Security satisfied."""
    resources = {"cpu": "500m", "memory": "1Gi"}
    return {
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": container,
                    "image": image,
                    "resources": {"requests": resources, "limits": resources},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def _ray_spec(labels: dict[str, str]) -> dict[str, Any]:
    """A head-only RayCluster."""
    return {
        "headGroupSpec": {"rayStartParams": {}, "template": pod_template(labels, "ray-head", "rayproject/ray:2.41.0")}
    }


def _lws_spec(labels: dict[str, str]) -> dict[str, Any]:
    """One group of one pod (the leader only)."""
    template = pod_template(labels, "leader", "registry.k8s.io/pause:3.10")
    return {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": template}}


@dataclass(frozen=True)
class Target:
    """An AI operator the probe can test: its API, a minimal valid spec, a spec its schema forbids and a field
    to misspell (an unknown field, refused under strict field validation instead of silently dropped)."""

    label: str
    group: str
    version: str
    plural: str
    kind: str
    collection: str  # REST collection, {ns} for the namespace
    valid: Callable[[dict[str, str]], dict[str, Any]]
    against_schema: dict[str, Any]
    against_schema_what: str
    misspelt: str


TARGETS: tuple[Target, ...] = (
    Target(
        "KubeRay",
        "ray.io",
        "v1",
        "rayclusters",
        "RayCluster",
        "/apis/ray.io/v1/namespaces/{ns}/rayclusters",
        _ray_spec,
        {"workerGroupSpecs": "many"},
        "no headGroupSpec, workerGroupSpecs not a list",
        "headGroupSpecs",
    ),
    Target(
        "LeaderWorkerSet",
        "leaderworkerset.x-k8s.io",
        "v1",
        "leaderworkersets",
        "LeaderWorkerSet",
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/{ns}/leaderworkersets",
        _lws_spec,
        {"replicas": "many"},
        "no leaderWorkerTemplate, replicas not an integer",
        "leaderWorkerTemplates",
    ),
)


def installed(snapshot: Snapshot) -> Target | None:
    """The first operator (in TARGETS order) whose API is served."""
    return next((t for t in TARGETS if snapshot.served(f"{t.group}/{t.version}", t.plural)), None)


def body(target: Target, namespace: str, name: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{target.group}/{target.version}",
        "kind": target.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def invalid_objects(target: Target, namespace: str, labels: dict[str, str]) -> list[tuple[str, dict[str, Any], bool]]:
    """(what, body, strict field validation) of each invalid custom resource that must be refused."""
    misspelt = {**target.valid(labels), target.misspelt: {}}
    return [
        (
            f"a {target.kind} against its schema ({target.against_schema_what})",
            body(target, namespace, f"{NAME}-schema", labels, dict(target.against_schema)),
            False,
        ),
        (
            f"a {target.kind} with a misspelt field {target.misspelt} (strict field validation)",
            body(target, namespace, f"{NAME}-unknown-field", labels, misspelt),
            True,
        ),
    ]


def refusal(answer: KubeApiError | None) -> str:
    """refused | admitted | inconclusive: a 400/422 (schema, strict field validation) or a webhook's 403 is a
    refusal; a quota or a server error proves nothing."""
    if answer is None:
        return "admitted"
    if answer.status in (400, 422) or (answer.status == 403 and "exceeded quota" not in str(answer)):
        return "refused"
    return "inconclusive"


def reconciled(obj: Mapping[str, Any] | None) -> tuple[bool, str]:
    """The operator wrote a status for the current generation (`status.observedGeneration`; a state, replicas or
    conditions show what it did), and what was seen."""
    if obj is None:
        return False, "not found"
    status = obj.get("status")
    if not isinstance(status, Mapping) or not status:
        return False, "no status (the operator has not reconciled it)"
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    conditions = [
        f"{c.get('type')}={c.get('status')}"
        for c in status.get("conditions") or []
        if isinstance(c, Mapping) and c.get("type")
    ]
    parts = [f"observedGeneration {observed}"]
    if "state" in status:
        parts.insert(0, f"state {status.get('state') or 'unset'}")
    if "replicas" in status:
        parts.append(f"replicas {status.get('replicas')}")
    if conditions:
        parts.append(f"conditions {' '.join(conditions)}")
    seen = ", ".join(parts)
    if isinstance(observed, int) and isinstance(generation, int) and observed >= generation:
        return True, seen
    return False, seen


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    del spec
    target = installed(snapshot)
    if target is None:
        known = ", ".join(f"{t.label} ({t.group}/{t.version} {t.kind})" for t in TARGETS)
        raise ProbeEnded(
            "cannot_run",
            f"nothing to test: no API of an AI operator the probe knows is served ({known}); the probe tests an "
            f"installed operator and never installs one (not covered by the probe yet: {NOT_COVERED})",
        )
    kube = box.kube
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    collection = target.collection.format(ns=ns)

    for what, invalid, strict in invalid_objects(target, ns, labels):
        began = box.now()
        answer = await box.dry_run(collection, invalid, strict=strict)
        if answer is not None and is_rbac_denial(answer):
            box.record.step(f"dry-run {what}", began, box.now() - began, ok=False, detail=str(answer))
            raise not_permitted(answer, f"dry-run create a {target.kind} in {ns}")
        judged = refusal(answer)
        detail = str(answer) if answer is not None else "admitted: the API server would have created it"
        box.record.step(f"dry-run {what}: {judged}", began, box.now() - began, ok=judged == "refused", detail=detail)
        if judged == "admitted":
            box.record.outcome = "failed"
            box.record.message = f"a probe's server-side dry-run of {what} was admitted in {ns}"
            return
        if judged == "inconclusive":
            raise ProbeEnded("cannot_run", f"{what} was refused for another reason than validation: {detail}")
        box.record.evidence.append(f"refused at admission: {what}: {detail}")

    await box.create(
        collection,
        body(target, ns, NAME, labels, target.valid(labels)),
        f"create {target.kind} {NAME} (minimal: one pod)",
        owned=False,
    )

    async def status_written() -> tuple[str | None, str]:
        ok, seen = reconciled(await kube.get(f"{collection}/{NAME}"))
        return (seen if ok else None), seen

    seen = await box.wait_for(
        f"the {target.label} operator reconciles {target.kind} {NAME} (status for its generation)", status_written
    )
    box.record.evidence.append(f"{target.kind} {ns}/{NAME} reconciled: {seen}")
    await box.step(
        f"delete {target.kind} {NAME}",
        kube.request("DELETE", f"{collection}/{NAME}", body={"kind": "DeleteOptions", "apiVersion": "v1"}),
        what=f"delete {target.kind} {ns}/{NAME}",
    )

    async def gone() -> tuple[bool | None, str]:
        obj = await kube.get(f"{collection}/{NAME}")
        if obj is None:
            return True, ""
        finalizers = (obj.get("metadata") or {}).get("finalizers") or []
        return None, f"still there, finalizers {finalizers or 'none'}"

    await box.wait_for(f"{target.kind} {NAME} is gone (the operator releases it)", gone)
    box.record.evidence.append(f"{target.kind} {ns}/{NAME} deleted cleanly")
    box.record.outcome = "observed"
    box.record.message = (
        f"a probe saw the {target.label} API refuse invalid {target.kind}s at admission (schema, strict field "
        f"validation), the operator reconcile a minimal one (status written for its generation: {seen}) and the "
        f"{target.kind} deleted cleanly"
    )
