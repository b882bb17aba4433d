"""dra_support (KAR-0051; SHOULD in 1.33, MUST in 1.34 and 1.35, not in the 1.36 checklist).

Asks: "Support Dynamic Resource Allocation (DRA) APIs to enable more flexible and fine-grained resource requests
beyond simple counts."

We verify, from the API alone:
- discovery serves `resource.k8s.io/v1` deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices
  (only a beta version served: Partially Implemented, `DRABetaAPIOnly`);
- at least one DeviceClass exists (`NoDeviceClass`);
- every accelerator node has a ResourceSlice with `spec.nodeName` set to it and a non-empty device list, so
  its accelerators can actually be claimed (`ResourceSlicesMissing`, naming the nodes).
All good: Implemented, `APIVerified`. A snapshot without discovery data: `DiscoveryUnavailable` (Unknown).
Allocating a claim end to end (scheduler + kubelet plugin) is not checked here; KAR-0051 leaves DRA API coverage
to the upstream conformance suite.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Problem,
    accelerator_nodes,
    capped,
    devices,
    discovery_missing,
    from_problems,
    name,
    names_list,
    plural,
    ref,
    slices_by_node,
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
    """(accelerator nodes lacking a ResourceSlice with devices, evidence of the slices found)."""
    by_node = slices_by_node(snapshot)
    missing: list[str] = []
    evidence: list[str] = []
    for node in nodes:
        with_devices = [rs for rs in by_node.get(name(node), []) if devices(rs)]
        if with_devices:
            evidence.extend(ref("ResourceSlice", rs) for rs in with_devices)
        else:
            missing.append(name(node))
    return missing, evidence


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (unknown := discovery_missing(ID, snapshot)) is not None:
        return unknown
    problems: list[Problem] = []
    api = _api_problem(snapshot)
    if api is not None:
        problems.append(api)
    classes = sorted(name(dc) for dc in snapshot.device_classes)
    if not classes:
        problems.append(Problem(NO_DEVICE_CLASS, "no DeviceClass exists: accelerators cannot be requested by class"))
    nodes = accelerator_nodes(snapshot, spec)
    missing, slice_evidence = _nodes_without_slices(snapshot, nodes)
    if missing:
        problems.append(
            Problem(
                RESOURCE_SLICES_MISSING,
                f"{plural(len(missing), 'accelerator node')} without a ResourceSlice listing devices: "
                f"{names_list(missing)} (is the DRA driver's kubelet plugin running there?)",
            )
        )
    evidence = [f"{GROUP}/v1 served: {', '.join(RESOURCES)}"] if api is None else []
    evidence += capped([f"DeviceClass/{c}" for c in classes]) + capped(slice_evidence)
    if problems:
        status = PARTIAL if [p.reason for p in problems] == [DRA_BETA_API_ONLY] else NOT_IMPLEMENTED
        return from_problems(ID, status, problems, evidence)
    coverage = (
        f"all {plural(len(nodes), 'accelerator node')} publish ResourceSlices with devices"
        if nodes
        else "no accelerator nodes matched, so no per-node ResourceSlices were expected"
    )
    class_count = plural(len(classes), "DeviceClass", "DeviceClasses")
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{GROUP}/v1 is served, {class_count} ({names_list(classes)}), {coverage}",
        tuple(evidence),
    )
