"""dra_support: a ResourceClaimTemplate on the accelerator DeviceClass and a pod using it → the scheduler allocates
a device from the published ResourceSlices and binds the pod; the allocation is read from the claim's status.

The DeviceClass is the cluster's own (one that selects published accelerator devices); the probe never makes one:
without it, or without ResourceSlices, it cannot run.
"""

from __future__ import annotations

from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import class_devices, is_accelerator_driver, name, slice_driver
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.sandbox import ProbeEnded, Sandbox

REQUIREMENT = "dra_support"
API = "/apis/resource.k8s.io/v1"
QUOTA = {"pods": "2", "requests.cpu": "1", "requests.memory": "256Mi", "limits.cpu": "1", "limits.memory": "256Mi"}


def accelerator_class(snapshot: Snapshot) -> str | None:
    """The DeviceClass to claim from: the one selecting the most published accelerator devices (name breaks ties)."""
    slices = [rs for rs in snapshot.resource_slices if is_accelerator_driver(slice_driver(rs))]
    counted = [(class_devices(dc, slices)[0], name(dc)) for dc in snapshot.device_classes]
    best = sorted((c for c in counted if c[0] > 0), key=lambda c: (-c[0], c[1]))
    return best[0][1] if best else None


def claim_pod(labels: dict[str, str], namespace: str, toleration_key: str) -> dict[str, Any]:
    resources = {"cpu": "10m", "memory": "16Mi"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "claimant", "namespace": namespace, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            # Accelerator nodes are usually tainted for their extended resource; a claim does not get the toleration
            # the ExtendedResourceToleration admission plugin adds for it.
            "tolerations": [{"key": toleration_key, "operator": "Exists", "effect": "NoSchedule"}],
            "resourceClaims": [{"name": "accelerator", "resourceClaimTemplateName": "accelerator"}],
            "containers": [
                {
                    "name": "canary",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": resources, "limits": resources, "claims": [{"name": "accelerator"}]},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    if not snapshot.served("resource.k8s.io/v1", "resourceclaimtemplates"):
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: the API server does not serve resource.k8s.io/v1 ResourceClaimTemplates (DRA)",
        )
    device_class = accelerator_class(snapshot)
    if device_class is None:
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: no DeviceClass selects a device an accelerator DRA driver "
            "publishes in a ResourceSlice; the probe claims from the cluster's own class, never makes one",
        )
    kube = box.kube
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    template = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "accelerator", "namespace": ns, "labels": labels},
        "spec": {
            "metadata": {"labels": labels},
            "spec": {"devices": {"requests": [{"name": "accelerator", "exactly": {"deviceClassName": device_class}}]}},
        },
    }
    await box.create(
        f"{API}/namespaces/{ns}/resourceclaimtemplates",
        template,
        f"create ResourceClaimTemplate accelerator (one device of DeviceClass {device_class})",
        owned=False,
    )
    await box.create(
        f"/api/v1/namespaces/{ns}/pods",
        claim_pod(labels, ns, spec.accelerators.resource_name),
        "create Pod claimant (one container using the claim)",
        owned=False,
    )

    async def claim_name() -> tuple[str | None, str]:
        pod = await kube.get(f"/api/v1/namespaces/{ns}/pods/claimant")
        statuses = ((pod or {}).get("status") or {}).get("resourceClaimStatuses") or []
        made = next((s.get("resourceClaimName") for s in statuses if s.get("resourceClaimName")), None)
        return made, "the ResourceClaim controller has not made the pod's claim yet"

    claim = await box.wait_for("the pod's ResourceClaim is made from the template", claim_name)

    async def allocated() -> tuple[list[str] | None, str]:
        obj = await kube.get(f"{API}/namespaces/{ns}/resourceclaims/{claim}")
        results = (((obj or {}).get("status") or {}).get("allocation") or {}).get("devices", {}).get("results") or []
        if results:
            return [f"{r.get('driver')}/{r.get('pool')}/{r.get('device')}" for r in results], ""
        pod = await kube.get(f"/api/v1/namespaces/{ns}/pods/claimant")
        cond: dict[str, Any] = next(
            (c for c in ((pod or {}).get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"),
            {},
        )
        return (
            None,
            f"claim not allocated; PodScheduled={cond.get('status', 'unset')} {cond.get('message', '')}".strip(),
        )

    devices = await box.wait_for(f"the scheduler allocates a device to ResourceClaim {claim}", allocated)

    async def bound() -> tuple[str | None, str]:
        pod = await kube.get(f"/api/v1/namespaces/{ns}/pods/claimant")
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        return node or None, "pod not bound to a node yet"

    node = await box.wait_for("the scheduler binds the pod to the device's node", bound)
    box.record.evidence += [
        f"ResourceClaim {ns}/{claim} allocated {', '.join(devices)}",
        f"Pod {ns}/claimant on {node}",
    ]
    box.record.outcome = "observed"
    box.record.message = (
        f"a probe saw the scheduler allocate {', '.join(devices)} (driver/pool/device, from a published "
        f"ResourceSlice) to a claim of DeviceClass {device_class} and bind the claiming pod to node {node}"
    )
