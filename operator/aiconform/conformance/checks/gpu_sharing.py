"""gpu_sharing (KAR-0003; SHOULD since 1.35).

Asks: for accelerators that support static GPU sharing, at least one sharing strategy: hardware partitions (MIG)
exposed as schedulable resources, or software sharing (time-slicing, MPS) allowing oversubscription.
Forward-looking: expose it through DRA once the accelerator supports that.

We verify, per accelerator node, any of:
- MIG: allocatable `nvidia.com/mig-*` > 0, or DRA devices with attribute `type=mig` on the node's ResourceSlices;
- software sharing: label `nvidia.com/gpu.sharing-strategy` is `time-slicing` or `mps`, label
  `nvidia.com/gpu.replicas` > 1, or allocatable of the GPU resource larger than `nvidia.com/gpu.count`.
One node offering a strategy is enough ("at least one"): Implemented, `APIVerified` (the fractional resources
are the schedulable mechanism the checklist asks for). Showing that several pods really share one GPU UUID is
the hardware test, only mentioned.

Decision: every NVIDIA GPU supports time-slicing through the device plugin, so NVIDIA nodes without any strategy
are Not Implemented (`SharingNotConfigured`, naming the MIG-capable nodes as the best candidates). Other vendors
without a recognized signal are `UnrecognizedAccelerator`. No accelerator nodes: N/A.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    accelerator_nodes,
    as_map,
    capped,
    device_attr,
    devices,
    labels,
    name,
    names_list,
    no_accelerator_nodes_message,
    ref,
    slices_by_node,
    status_of,
    to_int,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    IMPLEMENTED,
    NO_ACCELERATOR_NODES,
    NOT_APPLICABLE,
    NOT_IMPLEMENTED,
    SHARING_NOT_CONFIGURED,
    UNRECOGNIZED_ACCELERATOR,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "gpu_sharing"
MIG_PREFIX = "nvidia.com/mig-"
SOFTWARE_STRATEGIES = ("time-slicing", "mps")
MIG_DEVICE_CLASS = "mig.nvidia.com"


def _mig_signals(node: Obj, slices: list[Obj]) -> list[str]:
    allocatable = as_map(status_of(node).get("allocatable"))
    out = [
        f"Node/{name(node)} allocatable {k}={v}"
        for k, v in sorted(allocatable.items())
        if str(k).startswith(MIG_PREFIX) and to_int(v) > 0
    ]
    for rs in slices:
        migs = sum(1 for d in devices(rs) if device_attr(d, "type") == "mig")
        if migs:
            out.append(f"{ref('ResourceSlice', rs)} {migs} MIG devices")
    return out


def _software_signals(node: Obj, resource: str) -> list[str]:
    node_labels = labels(node)
    out = []
    strategy = node_labels.get("nvidia.com/gpu.sharing-strategy", "")
    if strategy in SOFTWARE_STRATEGIES:
        out.append(f"Node/{name(node)} nvidia.com/gpu.sharing-strategy={strategy}")
    replicas = to_int(node_labels.get("nvidia.com/gpu.replicas"))
    if replicas > 1:
        out.append(f"Node/{name(node)} nvidia.com/gpu.replicas={replicas}")
    physical = to_int(node_labels.get("nvidia.com/gpu.count"))
    advertised = to_int(as_map(status_of(node).get("allocatable")).get(resource))
    if physical and advertised > physical:
        out.append(f"Node/{name(node)} allocatable {resource}={advertised} > {physical} physical GPUs")
    return out


def _mig_capable(node: Obj) -> bool:
    return labels(node).get("nvidia.com/mig.capable") == "true"


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    nodes = accelerator_nodes(snapshot, spec)
    if not nodes:
        return Verdict(ID, NOT_APPLICABLE, NO_ACCELERATOR_NODES, no_accelerator_nodes_message(spec))
    slices = slices_by_node(snapshot)
    mig: dict[str, list[str]] = {}
    software: dict[str, list[str]] = {}
    for node in nodes:
        if found := _mig_signals(node, slices.get(name(node), [])):
            mig[name(node)] = found
        if found := _software_signals(node, spec.accelerators.resource_name):
            software[name(node)] = found
    evidence = [e for found in (*mig.values(), *software.values()) for e in found]
    if any(name(dc) == MIG_DEVICE_CLASS for dc in snapshot.device_classes):
        evidence.append(f"DeviceClass/{MIG_DEVICE_CLASS}")
    if mig or software:
        parts = [
            f"MIG on {names_list(mig)}" if mig else "",
            f"time-slicing/MPS on {names_list(software)}" if software else "",
        ]
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"GPU sharing exposed as schedulable resources: {'; '.join(p for p in parts if p)}; "
            "proving that pods share one physical GPU (same UUID) is a hardware test",
            capped(evidence),
        )
    if spec.accelerators.vendor != "nvidia":
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            UNRECOGNIZED_ACCELERATOR,
            f"no recognized sharing signal on the {spec.accelerators.vendor} accelerator nodes; declare the status "
            f"in spec.requirements.{ID} with evidence",
        )
    capable = [name(n) for n in nodes if _mig_capable(n)]
    hint = f"; MIG-capable nodes: {names_list(capable)}" if capable else ""
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        SHARING_NOT_CONFIGURED,
        f"no GPU sharing on any of the {len(nodes)} accelerator nodes ({names_list(name(n) for n in nodes)}): "
        f"configure time-slicing or MPS in the device plugin, or MIG{hint}",
        capped(evidence),
    )
