"""virtualized_accelerator (KAR-0004; SHOULD since 1.35).

Asks: for accelerators that support virtualization (e.g. vGPU), well-defined mechanisms to expose and manage
them, consistent with physical fractional GPUs. Forward-looking: use DRA once the accelerator supports it.

We verify any of: node label `nvidia.com/vgpu.present=true` or `nvidia.com/vgpu.host-driver-version`, a
`nvidia.com/gpu.product` starting with `GRID-`, a ResourceSlice device whose `brand` is a vGPU brand
(`NvidiaVCS`, `NvidiaVWS`, ...), or the DeviceClass `vfio.gpu.nvidia.com` (GPU passthrough to VMs via DRA).
Found: Implemented, `APIVerified`; the message says whether DRA carries it (the forward-looking clause). Running
a vGPU pod and its health check inside is the hardware test, only mentioned.

Decision: accelerator nodes with no virtualization signal are bare-metal or passthrough GPUs, where the
capability does not exist: N/A (`NotApplicable`), not a failure. No accelerator nodes: N/A too.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    accelerator_nodes,
    capped,
    device_attr,
    devices,
    labels,
    name,
    names_list,
    no_accelerator_nodes_message,
    ref,
    slices_by_node,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    IMPLEMENTED,
    NO_ACCELERATOR_NODES,
    NOT_APPLICABLE,
    NOT_APPLICABLE_REASON,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "virtualized_accelerator"
VGPU_BRANDS = frozenset({"NvidiaVCS", "NvidiaVWS", "NvidiaVPC", "NvidiaVApps", "NvidiaVGaming"})
VFIO_DEVICE_CLASS = "vfio.gpu.nvidia.com"


def _label_signals(node: Obj) -> list[str]:
    node_labels = labels(node)
    out = []
    if node_labels.get("nvidia.com/vgpu.present") == "true":
        out.append(f"Node/{name(node)} nvidia.com/vgpu.present=true")
    if node_labels.get("nvidia.com/vgpu.host-driver-version"):
        out.append(f"Node/{name(node)} nvidia.com/vgpu.host-driver-version")
    product = node_labels.get("nvidia.com/gpu.product", "")
    if product.startswith("GRID-"):
        out.append(f"Node/{name(node)} nvidia.com/gpu.product={product}")
    return out


def _dra_signals(slices: list[Obj]) -> list[str]:
    out = []
    for rs in slices:
        brands = sorted({str(device_attr(d, "brand")) for d in devices(rs)} & VGPU_BRANDS)
        if brands:
            out.append(f"{ref('ResourceSlice', rs)} brand={','.join(brands)}")
    return out


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    nodes = accelerator_nodes(snapshot, spec)
    if not nodes:
        return Verdict(ID, NOT_APPLICABLE, NO_ACCELERATOR_NODES, no_accelerator_nodes_message(spec))
    slices = slices_by_node(snapshot)
    by_label: dict[str, list[str]] = {}
    by_dra: dict[str, list[str]] = {}
    for node in nodes:
        if found := _label_signals(node):
            by_label[name(node)] = found
        if found := _dra_signals(slices.get(name(node), [])):
            by_dra[name(node)] = found
    vfio = any(name(dc) == VFIO_DEVICE_CLASS for dc in snapshot.device_classes)
    evidence = [e for found in (*by_dra.values(), *by_label.values()) for e in found]
    evidence += [f"DeviceClass/{VFIO_DEVICE_CLASS}"] if vfio else []
    if not evidence:
        return Verdict(
            ID,
            NOT_APPLICABLE,
            NOT_APPLICABLE_REASON,
            f"no virtualized accelerators: none of the {len(nodes)} accelerator nodes shows vGPU labels, vGPU "
            f"ResourceSlice brands or a {VFIO_DEVICE_CLASS} DeviceClass (bare-metal or passthrough GPUs)",
        )
    vgpu_nodes = sorted(set(by_label) | set(by_dra))
    where = f"vGPU on {names_list(vgpu_nodes)}" if vgpu_nodes else f"DeviceClass {VFIO_DEVICE_CLASS}"
    via = "exposed through DRA" if by_dra or vfio else "exposed by the device plugin only (DRA is forward-looking)"
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{where}, {via}; running a vGPU pod with a health check is a hardware test",
        capped(evidence),
    )
