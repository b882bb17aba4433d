"""high_performance_networking (KAR-0010; SHOULD since 1.36).

Asks: if high-performance pod-to-pod communication is needed, manage and expose the specialized network
resources so their characteristics are discoverable for scheduling, and let pods attach to several interfaces;
platforms should use DRA (e.g. DRANET).

We verify the API-visible part:
- a non-accelerator DRA driver (e.g. DRANET `dra.net`) publishes ResourceSlices whose devices carry network
  attributes (RDMA, PCI address/root, interface name) — the preferred, DRA mechanism;
- or the Multus CRD `network-attachment-definitions.k8s.cni.cncf.io` is Established (secondary interfaces
  without DRA).

Verdicts and tiers:
- Implemented: never from the check: the performance is what only hardware proves (`evidence.HARDWARE_PARTS`,
  capped structurally by `evidence.enforce`); a declaration with the transfer test's evidence fills it in.
- Partially Implemented, `NeedsHardwareTest` (condition Unknown): the mechanism is there. Tier
  `ControllerStatus` when the network slices are owned by their Node (a DRA kubelet plugin published them),
  else `APIPresence`.
- Not Implemented: `NoHighPerformanceNetwork`, with the hint to declare N/A when the platform does not need such
  networking (the requirement's own "if").
- Unknown (condition): `Unreadable` when resourceslices, CRDs or NetworkAttachmentDefinitions could not be listed.
- N/A: only declared.

Snapshot: `resource_slices`; `crds`; optionally `custom["network-attachment-definitions.k8s.cni.cncf.io"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import API_PRESENCE, CONTROLLER_STATUS, HARDWARE_PARTS
from aiconform.conformance.facts import (
    attribute_names,
    capped,
    crd_established,
    device_attr,
    devices,
    is_accelerator_driver,
    name,
    names_list,
    plural,
    published_by_kubelet_plugin,
    ref,
    slice_driver,
    unreadable,
)
from aiconform.conformance.verdict import (
    NEEDS_HARDWARE_TEST,
    NO_HIGH_PERFORMANCE_NETWORK,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "high_performance_networking"
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"
SOURCES = (
    "resourceslices.resource.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "network-attachment-definitions.k8s.cni.cncf.io",
)
# Non-network DRA drivers besides the accelerators' (facts.ACCELERATOR_DRA_DRIVERS): their slices carry PCI
# attributes but are not NICs.
OTHER_NON_NETWORK_DRIVERS = frozenset({"compute-domain.nvidia.com"})
NETWORK_ATTRIBUTE_HINTS = ("rdma", "pci", "ifname", "interface", "mac")


def _network_slice(rs: Obj) -> bool:
    if is_accelerator_driver(slice_driver(rs)) or slice_driver(rs) in OTHER_NON_NETWORK_DRIVERS:
        return False
    for dev in devices(rs):
        if device_attr(dev, "type") in ("gpu", "mig"):
            return False
        if any(hint in attr for attr in attribute_names(dev) for hint in NETWORK_ATTRIBUTE_HINTS):
            return True
    return False


def _has_rdma(rs: Obj) -> bool:
    return any("rdma" in attr for dev in devices(rs) for attr in attribute_names(dev))


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    slices = sorted((rs for rs in snapshot.resource_slices if _network_slice(rs)), key=name)
    nad = crd_established(snapshot, NAD_CRD)
    if not slices and not nad:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            NO_HIGH_PERFORMANCE_NETWORK,
            "no network DRA driver publishes ResourceSlices with RDMA/PCI attributes and Multus "
            f"({NAD_CRD}) is not installed: deploy a network DRA driver such as DRANET; if workloads do not need "
            f"high-performance pod-to-pod networking, declare spec.requirements.{ID} N/A with notes",
        )
    parts: list[str] = []
    evidence: list[str] = []
    if slices:
        drivers = sorted({slice_driver(rs) for rs in slices})
        rdma = " with RDMA" if any(_has_rdma(rs) for rs in slices) else ""
        parts.append(f"network DRA driver {names_list(drivers)} publishes {plural(len(slices), 'ResourceSlice')}{rdma}")
        evidence += capped([ref("ResourceSlice", rs) for rs in slices])
    if nad:
        count = len(snapshot.objects(NAD_CRD))
        dra_note = "" if slices else "; the checklist prefers DRA (e.g. DRANET) over Multus"
        parts.append(f"Multus installed ({plural(count, 'NetworkAttachmentDefinition')}){dra_note}")
        evidence.append(f"CRD {NAD_CRD} Established")
    return Verdict(
        ID,
        PARTIAL,
        NEEDS_HARDWARE_TEST,
        f"{'; '.join(parts)}; an RDMA or iperf transfer between pods claiming these NICs needs the hardware test: "
        f"{HARDWARE_PARTS[ID]}",
        tuple(evidence),
        tier=CONTROLLER_STATUS if slices and all(published_by_kubelet_plugin(rs) for rs in slices) else API_PRESENCE,
    )
