"""secure_accelerator_access, its policy part: requests a tenant must not be able to make are sent as server-side
dry-runs (nothing is created) into a tenant namespace, where the cluster's own policies apply (Pod Security
labels, ValidatingAdmissionPolicies bound by namespace selector, webhooks). Each must be refused; each refusal is
recorded with the admission message. A sandbox namespace of the probe's own would only test the probe's labels.

What only hardware can prove (one container cannot reach another's accelerators) stays NeedsHardwareTest, so the
best verdict is Partially Implemented (evidence.HARDWARE_PARTS).
"""

from __future__ import annotations

from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import HARDWARE_PARTS
from aiconform.conformance.facts import meta, name, tenant_namespaces
from aiconform.conformance.verdict import NEEDS_HARDWARE_TEST, PARTIAL
from aiconform.kube.client import KubeApiError
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.dra import accelerator_class
from aiconform.probes.sandbox import ProbeEnded, Sandbox, is_rbac_denial, not_permitted

REQUIREMENT = "secure_accelerator_access"
# A refusal that comes from a quota or a missing field is not a policy's: the request proves nothing either way.
NOT_A_POLICY = ("exceeded quota", "must specify", "is invalid: spec.containers", "field is immutable")


def _pod(namespace: str, name: str, labels: dict[str, str], *, privileged: bool, dev: bool) -> dict[str, Any]:
    resources = {"cpu": "10m", "memory": "16Mi"}
    container: dict[str, Any] = {
        "name": "canary",
        "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": resources, "limits": resources},
    }
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if privileged:
        container["securityContext"] = {"privileged": True}
    if dev:
        spec["volumes"] = [{"name": "dev", "hostPath": {"path": "/dev"}}]
        container["volumeMounts"] = [{"name": "dev", "mountPath": "/host-dev"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def requests(namespace: str, labels: dict[str, str], device_class: str | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(what, collection, body) of every request that must be refused."""
    out = [
        (
            "a privileged pod",
            f"/api/v1/namespaces/{namespace}/pods",
            _pod(namespace, "aiconform-probe-privileged", labels, privileged=True, dev=False),
        ),
        (
            "a pod mounting hostPath /dev",
            f"/api/v1/namespaces/{namespace}/pods",
            _pod(namespace, "aiconform-probe-host-dev", labels, privileged=False, dev=True),
        ),
    ]
    if device_class is not None:
        claim = {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": "aiconform-probe-admin-access", "namespace": namespace, "labels": labels},
            "spec": {
                "devices": {
                    "requests": [
                        {"name": "accelerator", "exactly": {"deviceClassName": device_class, "adminAccess": True}}
                    ]
                }
            },
        }
        out.append(
            ("an adminAccess ResourceClaim", f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims", claim)
        )
    return out


def judge(answer: KubeApiError | None) -> str:
    """refused | admitted | inconclusive."""
    if answer is None:
        return "admitted"
    text = str(answer)
    if answer.status in (400, 403, 422) and not any(marker in text for marker in NOT_A_POLICY):
        return "refused"
    return "inconclusive"


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    going = {name(ns) for ns in snapshot.namespaces if meta(ns).get("deletionTimestamp")}
    tenants = sorted(tenant_namespaces(snapshot, spec) - going)
    if not tenants:
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: no tenant namespace (spec.tenants.namespaceSelector selects "
            "none) to send the dry-run requests into",
        )
    namespace = tenants[0]
    device_class = accelerator_class(snapshot) if snapshot.served("resource.k8s.io/v1", "resourceclaims") else None
    box.record.namespace = f"{namespace} (tenant; server-side dry-run only: nothing is created)"
    refused: list[str] = []
    admitted: list[str] = []
    unclear: list[str] = []
    for what, collection, body in requests(namespace, box.labels(), device_class):
        began = box.now()
        answer = await box.dry_run(collection, body)
        if answer is not None and is_rbac_denial(answer):
            box.record.step(f"dry-run {what}", began, box.now() - began, ok=False, detail=str(answer))
            raise not_permitted(answer, f"dry-run create {what} in {namespace}")
        verdict = judge(answer)
        detail = str(answer) if answer is not None else "admitted: the API server would have created it"
        box.record.step(
            f"dry-run {what} in {namespace}: {verdict}",
            began,
            box.now() - began,
            ok=verdict == "refused",
            detail=detail,
        )
        line = f"{what}: {detail}"
        {"refused": refused, "admitted": admitted, "inconclusive": unclear}[verdict].append(line)
    box.record.evidence += [f"refused {line}" for line in refused]
    if device_class is None:
        box.record.evidence.append("adminAccess claim not tried: no DRA DeviceClass selects published devices")
    if admitted:
        box.record.outcome = "failed"
        box.record.message = (
            f"a probe's server-side dry-run in tenant namespace {namespace} was admitted for "
            f"{'; '.join(admitted)}: tenants can reach the host's devices"
        )
        return
    if unclear:
        raise ProbeEnded("cannot_run", f"refused for another reason than a policy in {namespace}: {'; '.join(unclear)}")
    box.record.outcome = "observed"
    box.record.status = PARTIAL
    box.record.reason = NEEDS_HARDWARE_TEST
    box.record.message = (
        f"a probe saw {len(refused)} requests refused at admission in tenant namespace {namespace} (server-side "
        f"dry-run: {', '.join(line.split(':')[0] for line in refused)}); what only hardware can prove is not "
        f"proven: {HARDWARE_PARTS[REQUIREMENT]}"
    )
