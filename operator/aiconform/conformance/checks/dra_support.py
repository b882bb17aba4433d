"""dra_support (KAR-0051; SHOULD in 1.33, MUST in 1.34 and 1.35, not in the 1.36 checklist).

Asks: "Support Dynamic Resource Allocation (DRA) APIs to enable more flexible and fine-grained resource requests
beyond simple counts."

We verify, from the API alone:
- discovery serves `resource.k8s.io/v1` deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices
  (only a beta version served: Partially Implemented, `DRABetaAPIOnly`; none: Not Implemented, `DRAAPINotServed`);
- every accelerator node (`facts.accelerator_fleet`: nodes exposing accelerator resources, cloud accelerator
  labels or accelerator DRA slices, plus those spec.accelerators.nodeSelector selects) is served by a
  ResourceSlice of an accelerator vendor's DRA driver (`gpu.nvidia.com`, `gpu.amd.com`, `gpu.intel.com`, ...)
  listing devices — by `spec.nodeName`, `spec.nodeSelector` or `spec.allNodes`. A NIC driver's slices (DRANET
  `dra.net`, SR-IOV) do not count (`ResourceSlicesMissing`, naming the nodes);
- at least one DeviceClass whose selectors (the CEL terms `device.driver == "..."` and
  `device.attributes["domain"].name == "..."`) select a device actually published by an accelerator driver; a
  class selecting nothing does not count (`NoDeviceClass`, naming the classes).

Verdicts and tiers:
- Implemented: never from this check alone. All of the above is API presence (`APIPresence`: anyone can create
  slices and classes), so `evidence.enforce` makes it Partially Implemented, `PresenceOnly`; the message says
  that a probe allocating a ResourceClaim end to end (scheduler + kubelet plugin) would prove it. That probe is
  future work; until then a user may declare the requirement with evidence.
- Partially Implemented: `PresenceOnly` as above, or `DRABetaAPIOnly`.
- Not Implemented: `DRAAPINotServed`, `ResourceSlicesMissing`, `NoDeviceClass`.
- Unknown (condition): `NoAcceleratorNodes` (no node exposes an accelerator: cannot be evaluated),
  `DiscoveryUnavailable`, `Unreadable` (nodes, resourceslices or deviceclasses could not be listed).
- N/A: never from the check; only declared.
"""

from __future__ import annotations

import dataclasses

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import API_PRESENCE
from aiconform.conformance.facts import (
    Problem,
    accelerator_fleet,
    capped,
    class_devices,
    devices,
    discovery_missing,
    from_problems,
    is_accelerator_driver,
    name,
    names_list,
    no_accelerator_nodes,
    plural,
    ref,
    slice_driver,
    slices_by_node,
    unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    DRA_API_NOT_SERVED,
    DRA_BETA_API_ONLY,
    IMPLEMENTED,
    NO_DEVICE_CLASS,
    NOT_IMPLEMENTED,
    PARTIAL,
    RESOURCE_SLICES_MISSING,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "dra_support"
GROUP = "resource.k8s.io"
RESOURCES = ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices")
BETA_VERSIONS = ("v1beta2", "v1beta1")
SOURCES = ("nodes", "resourceslices.resource.k8s.io", "deviceclasses.resource.k8s.io")


def _missing(snapshot: Snapshot, version: str) -> list[str]:
    return [r for r in RESOURCES if not snapshot.served(f"{GROUP}/{version}", r)]


def _api_problem(snapshot: Snapshot) -> Problem | None:
    missing = _missing(snapshot, "v1")
    if not missing:
        return None
    beta = next((v for v in BETA_VERSIONS if not _missing(snapshot, v)), None)
    if beta is not None:
        return Problem(
            DRA_BETA_API_ONLY,
            f"only {GROUP}/{beta} is served, not {GROUP}/v1 (GA since Kubernetes 1.34): upgrade the control plane",
        )
    return Problem(DRA_API_NOT_SERVED, f"{GROUP}/v1 does not serve {', '.join(missing)}")


def _nodes_without_slices(snapshot: Snapshot, nodes: list[Obj]) -> tuple[list[str], list[str]]:
    """(accelerator nodes lacking an accelerator driver's ResourceSlice with devices, evidence of those found)."""
    accel = slices_by_node(snapshot, accelerators_only=True)
    every = slices_by_node(snapshot)
    missing: list[str] = []
    evidence: list[str] = []
    for node in nodes:
        with_devices = [rs for rs in accel.get(name(node), []) if devices(rs)]
        if with_devices:
            evidence.extend(f"{ref('ResourceSlice', rs)} ({slice_driver(rs)})" for rs in with_devices)
            continue
        others = sorted(
            {slice_driver(rs) for rs in every.get(name(node), []) if not is_accelerator_driver(slice_driver(rs))}
        )
        missing.append(f"{name(node)} (only {', '.join(others)})" if others else name(node))
    return missing, evidence


def _class_problem(snapshot: Snapshot) -> tuple[Problem | None, list[str], list[str]]:
    """(NoDeviceClass problem or None, classes selecting published accelerator devices, evidence)."""
    accel_slices = [rs for rs in snapshot.resource_slices if is_accelerator_driver(slice_driver(rs))]
    selecting: list[str] = []
    idle: list[str] = []
    evidence: list[str] = []
    for dc in sorted(snapshot.device_classes, key=name):
        count, evaluable = class_devices(dc, accel_slices)
        if count:
            selecting.append(name(dc))
            evidence.append(f"DeviceClass/{name(dc)} selects {plural(count, 'published device')}")
        else:
            idle.append(
                f"{name(dc)} ({'selects no published accelerator device' if evaluable else 'selectors not evaluated'})"
            )
    if selecting:
        return None, selecting, evidence
    if not idle:
        return Problem(NO_DEVICE_CLASS, "no DeviceClass exists: accelerators cannot be requested by class"), [], []
    return (
        Problem(
            NO_DEVICE_CLASS,
            f"no DeviceClass selects a device an accelerator DRA driver publishes: {names_list(idle)}",
        ),
        [],
        [],
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (unknown := discovery_missing(ID, snapshot)) is not None:
        return unknown
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    api = _api_problem(snapshot)
    if api is not None and api.reason == DRA_API_NOT_SERVED:
        return from_problems(ID, NOT_IMPLEMENTED, [api], [])
    fleet = accelerator_fleet(snapshot, spec)
    if not fleet.nodes:
        return no_accelerator_nodes(ID, spec)
    problems: list[Problem] = [api] if api is not None else []
    class_problem, classes, class_evidence = _class_problem(snapshot)
    if class_problem is not None:
        problems.append(class_problem)
    missing, slice_evidence = _nodes_without_slices(snapshot, list(fleet.nodes))
    if missing:
        problems.append(
            Problem(
                RESOURCE_SLICES_MISSING,
                f"{plural(len(missing), 'accelerator node')} without a ResourceSlice of an accelerator DRA driver "
                f"listing devices: {names_list(missing)} (is the vendor's DRA kubelet plugin running there?)",
            )
        )
    evidence = [f"{GROUP}/v1 served: {', '.join(RESOURCES)}"] if api is None else []
    evidence += [*capped(class_evidence), *capped(slice_evidence), *fleet.evidence()]
    if problems:
        status = PARTIAL if [p.reason for p in problems] == [DRA_BETA_API_ONLY] else NOT_IMPLEMENTED
        verdict = from_problems(ID, status, problems, evidence)
        return dataclasses.replace(verdict, message=verdict.message + fleet.note())
    class_count = plural(len(classes), "DeviceClass", "DeviceClasses")
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{GROUP}/v1 is served, {class_count} ({names_list(classes)}) select published devices, all "
        f"{plural(len(fleet.nodes), 'accelerator node')} publish ResourceSlices of an accelerator DRA driver"
        f"{fleet.note()}; a probe allocating a ResourceClaim end to end would prove that the scheduler and the "
        "kubelet plugin allocate them",
        tuple(evidence),
        tier=API_PRESENCE,
    )
