"""robust_controller through the installed AI operator (KubeRay): an invalid RayCluster is refused at admission
(server-side dry-run: nothing is created), a minimal valid one is reconciled (the operator writes its status for
the current generation) and deleted cleanly (gone, its finalizers released).

The operator is the cluster's own; the probe never installs one: without the RayCluster API it cannot run (the
other operators robust_controller knows are named in the message), without the operator's controller the
reconcile wait times out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.kube.client import KubeApiError
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.sandbox import ProbeEnded, Sandbox, is_rbac_denial, not_permitted

REQUIREMENT = "robust_controller"
GROUP, VERSION = "ray.io", "v1"
API = f"/apis/{GROUP}/{VERSION}"
NAME = "canary"
# Room for the head pod the operator makes (its requests must fit the template's) and nothing more.
QUOTA = {"pods": "2", "requests.cpu": "1", "requests.memory": "2Gi", "limits.cpu": "1", "limits.memory": "2Gi"}
OTHERS = "Kubeflow Trainer, Kubeflow Training Operator, KServe, LeaderWorkerSet, KAITO"


def valid_cluster(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A head-only RayCluster whose head pod satisfies restricted Pod Security and the sandbox quota."""
    resources = {"cpu": "500m", "memory": "1Gi"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayCluster",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.41.0",
                                "resources": {"requests": resources, "limits": resources},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            }
        },
    }


def invalid_clusters(namespace: str, labels: dict[str, str]) -> list[tuple[str, dict[str, Any], bool]]:
    """(what, body, strict field validation) of each invalid RayCluster that must be refused: one its schema
    forbids (the required headGroupSpec missing, workerGroupSpecs not a list), one with a misspelt field (an
    unknown field, refused under strict field validation instead of silently dropped)."""
    valid_spec = valid_cluster(namespace, labels)["spec"]

    def body(suffix: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": f"{NAME}-{suffix}", "namespace": namespace, "labels": labels}
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RayCluster", "metadata": meta, "spec": spec}

    return [
        (
            "a RayCluster against its schema (no headGroupSpec, workerGroupSpecs not a list)",
            body("schema", {"workerGroupSpecs": "many"}),
            False,
        ),
        (
            "a RayCluster with a misspelt field (strict field validation)",
            body("unknown-field", {**valid_spec, "headGroupSpecs": {}}),
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
    """The operator wrote a status for the current generation (KubeRay writes status.observedGeneration; a state,
    conditions or desired resources show what it did), and what was seen."""
    if obj is None:
        return False, "RayCluster not found"
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
    seen = ", ".join(
        [f"state {status.get('state') or 'unset'}", f"observedGeneration {observed}"]
        + ([f"conditions {' '.join(conditions)}"] if conditions else [])
    )
    if isinstance(observed, int) and isinstance(generation, int) and observed >= generation:
        return True, seen
    return False, seen


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    del spec
    if not snapshot.served(f"{GROUP}/{VERSION}", "rayclusters"):
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: the KubeRay API (ray.io/v1 RayCluster) is not served; the probe tests an installed "
            f"KubeRay and never installs one (not covered by the probe yet: {OTHERS})",
        )
    kube = box.kube
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    collection = f"{API}/namespaces/{ns}/rayclusters"

    for what, body, strict in invalid_clusters(ns, labels):
        began = box.now()
        answer = await box.dry_run(collection, body, strict=strict)
        if answer is not None and is_rbac_denial(answer):
            box.record.step(f"dry-run {what}", began, box.now() - began, ok=False, detail=str(answer))
            raise not_permitted(answer, f"dry-run create a RayCluster in {ns}")
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

    await box.create(collection, valid_cluster(ns, labels), f"create RayCluster {NAME} (head only)", owned=False)

    async def status_written() -> tuple[str | None, str]:
        ok, seen = reconciled(await kube.get(f"{collection}/{NAME}"))
        return (seen if ok else None), seen

    seen = await box.wait_for(
        f"the KubeRay operator reconciles RayCluster {NAME} (status for its generation)", status_written
    )
    box.record.evidence.append(f"RayCluster {ns}/{NAME} reconciled: {seen}")
    await box.step(
        f"delete RayCluster {NAME}",
        kube.request("DELETE", f"{collection}/{NAME}", body={"kind": "DeleteOptions", "apiVersion": "v1"}),
        what=f"delete RayCluster {ns}/{NAME}",
    )

    async def gone() -> tuple[bool | None, str]:
        obj = await kube.get(f"{collection}/{NAME}")
        if obj is None:
            return True, ""
        finalizers = (obj.get("metadata") or {}).get("finalizers") or []
        return None, f"still there, finalizers {finalizers or 'none'}"

    await box.wait_for(f"RayCluster {NAME} is gone (the operator releases it)", gone)
    box.record.evidence.append(f"RayCluster {ns}/{NAME} deleted cleanly")
    box.record.outcome = "observed"
    box.record.message = (
        "a probe saw KubeRay's RayCluster API refuse invalid RayClusters at admission (schema, strict field "
        "validation), the operator reconcile a "
        f"minimal one (status written for its generation: {seen}) and the RayCluster deleted cleanly"
    )
