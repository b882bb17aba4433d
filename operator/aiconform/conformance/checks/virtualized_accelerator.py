"""virtualized_accelerator (KAR-0004; SHOULD since 1.35).

Asks: for accelerators that support virtualization (e.g. vGPU), well-defined mechanisms to expose and manage
them, consistent with physical fractional GPUs. Forward-looking: use DRA once the accelerator supports it.

We verify, on the accelerator nodes (`facts.accelerator_fleet`), virtual accelerators that are *advertised*:
- a node showing vGPU (label `nvidia.com/vgpu.present=true` or `nvidia.com/vgpu.host-driver-version`, or a
  `nvidia.com/gpu.product` starting with `GRID-`) whose allocatable accelerator resource is > 0 (the device plugin
  exposes the vGPUs);
- ResourceSlice devices of an accelerator DRA driver whose `brand` is a vGPU brand (`NvidiaVCS`, `NvidiaVWS`, ...);
- the DeviceClass `vfio.gpu.nvidia.com` (GPU passthrough to VMs via DRA) when its selectors select devices that
  are actually published.
Labels or classes alone are not proof: vGPU labels on a node advertising no accelerator are a fault
(`VirtualizationNotAdvertised`); a vfio class selecting no published device is not a signal (mentioned only).

Verdicts and tiers:
- Implemented (`APIVerified`): tier `ControllerStatus` when a Ready node's kubelet advertises the vGPUs in
  `allocatable` or a DRA kubelet plugin published the devices (slices owned by their Node); the message says
  whether DRA carries it (the forward-looking clause). Running a vGPU pod with a health check is a hardware
  test, only mentioned.
- Partially Implemented (`PresenceOnly`, by `evidence.enforce`): seen only in slices no Node owns or on nodes that
  are not Ready (tier `APIPresence`).
- Not Implemented: `VirtualizationNotAdvertised` (vGPU labels without devices; nodes named as faults).
- N/A (`NotApplicable`): accelerator nodes without any virtualization signal are bare-metal or passthrough GPUs,
  where the capability does not exist.
- Unknown (condition): `NoAcceleratorNodes` (nothing to evaluate), `Unreadable` (nodes, resourceslices or
  deviceclasses unlisted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import API_PRESENCE, CONTROLLER_STATUS
from aiconform.conformance.facts import (
    accelerator_fleet,
    accelerator_resources,
    capped,
    class_devices,
    device_attr,
    devices,
    is_accelerator_driver,
    labels,
    name,
    names_list,
    no_accelerator_nodes,
    node_ready,
    published_by_kubelet_plugin,
    ref,
    slice_driver,
    slices_by_node,
    unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    IMPLEMENTED,
    NOT_APPLICABLE,
    NOT_APPLICABLE_REASON,
    NOT_IMPLEMENTED,
    VIRTUALIZATION_NOT_ADVERTISED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "virtualized_accelerator"
SOURCES = ("nodes", "resourceslices.resource.k8s.io", "deviceclasses.resource.k8s.io")
VGPU_BRANDS = frozenset({"NvidiaVCS", "NvidiaVWS", "NvidiaVPC", "NvidiaVApps", "NvidiaVGaming"})
VFIO_DEVICE_CLASS = "vfio.gpu.nvidia.com"


@dataclass
class Found:
    live: list[str] = field(default_factory=list)
    presence: list[str] = field(default_factory=list)
    vgpu_nodes: set[str] = field(default_factory=set)
    dra: bool = False
    claims: list[str] = field(default_factory=list)  # labels without devices
    idle_classes: list[str] = field(default_factory=list)


def _label_signals(node: Obj) -> list[str]:
    node_labels = labels(node)
    out = []
    if node_labels.get("nvidia.com/vgpu.present") == "true":
        out.append("nvidia.com/vgpu.present=true")
    if node_labels.get("nvidia.com/vgpu.host-driver-version"):
        out.append("nvidia.com/vgpu.host-driver-version")
    product = node_labels.get("nvidia.com/gpu.product", "")
    if product.startswith("GRID-"):
        out.append(f"nvidia.com/gpu.product={product}")
    return out


def _node(node: Obj, slices: list[Obj], found: Found) -> None:
    node_name = name(node)
    signals = _label_signals(node)
    advertised = accelerator_resources(node)
    if signals and advertised:
        resources = ", ".join(f"{k}={v}" for k, v in sorted(advertised.items()))
        entry = f"Node/{node_name} {', '.join(signals)}, allocatable {resources}"
        (found.live if node_ready(node) else found.presence).append(entry)
        found.vgpu_nodes.add(node_name)
    elif signals:
        found.claims.append(f"Node/{node_name} {', '.join(signals)} but advertises no accelerator resource")
    for rs in slices:
        brands = sorted({str(device_attr(d, "brand")) for d in devices(rs)} & VGPU_BRANDS)
        if brands:
            live = published_by_kubelet_plugin(rs)
            entry = f"{ref('ResourceSlice', rs)} brand={','.join(brands)}"
            (found.live if live else found.presence).append(entry if live else f"{entry}, not owned by its Node")
            found.vgpu_nodes.add(node_name)
            found.dra = True


def _vfio(snapshot: Snapshot, found: Found) -> None:
    accel = [rs for rs in snapshot.resource_slices if is_accelerator_driver(slice_driver(rs))]
    owned = [rs for rs in accel if published_by_kubelet_plugin(rs)]
    for dc in snapshot.device_classes:
        if name(dc) != VFIO_DEVICE_CLASS:
            continue
        count, _ = class_devices(dc, accel)
        if not count:
            found.idle_classes.append(f"DeviceClass/{VFIO_DEVICE_CLASS} selects no published device")
            continue
        live = class_devices(dc, owned)[0] > 0
        entry = f"DeviceClass/{VFIO_DEVICE_CLASS} selects {count} published devices"
        (found.live if live else found.presence).append(entry)
        found.dra = True


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    fleet = accelerator_fleet(snapshot, spec)
    if not fleet.nodes:
        return no_accelerator_nodes(ID, spec)
    slices = slices_by_node(snapshot, accelerators_only=True)
    found = Found()
    for node in fleet.nodes:
        _node(node, slices.get(name(node), []), found)
    _vfio(snapshot, found)
    evidence = [*found.live, *found.presence, *fleet.evidence()]
    if found.live or found.presence:
        where = f"vGPU on {names_list(found.vgpu_nodes)}" if found.vgpu_nodes else f"DeviceClass {VFIO_DEVICE_CLASS}"
        via = "exposed through DRA" if found.dra else "exposed by the device plugin only (DRA is forward-looking)"
        source = "advertised by a live kubelet / DRA kubelet plugin" if found.live else "seen only as API objects"
        labelled = f"; labelled but not advertised: {names_list(found.claims, 3)}" if found.claims else ""
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"{where}, {via} ({source}){labelled}{fleet.note()}; running a vGPU pod with a health check is a "
            "hardware test",
            capped(evidence),
            tier=CONTROLLER_STATUS if found.live else API_PRESENCE,
            faults=tuple(found.claims),
        )
    if found.claims:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            VIRTUALIZATION_NOT_ADVERTISED,
            f"vGPU is labelled but no virtual accelerator is advertised: {names_list(found.claims, 5)}{fleet.note()}",
            capped(evidence),
            faults=tuple(found.claims),
        )
    idle = f"; {names_list(found.idle_classes)}, so it is not a signal" if found.idle_classes else ""
    return Verdict(
        ID,
        NOT_APPLICABLE,
        NOT_APPLICABLE_REASON,
        f"no virtualized accelerators: none of the {len(fleet.nodes)} accelerator nodes shows vGPU labels with "
        f"advertised devices or vGPU ResourceSlice brands, and no {VFIO_DEVICE_CLASS} DeviceClass selects a "
        f"published device (bare-metal or passthrough GPUs){idle}{fleet.note()}",
        capped(evidence),
    )
