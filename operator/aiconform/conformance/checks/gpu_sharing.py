"""gpu_sharing (KAR-0003; SHOULD since 1.35).

Asks: for accelerators that support static GPU sharing, at least one sharing strategy: hardware partitions (MIG)
exposed as schedulable resources, or software sharing (time-slicing, MPS) allowing oversubscription.
Forward-looking: expose it through DRA once the accelerator supports that.

We verify, per accelerator node (`facts.accelerator_fleet`), what the node *advertises*, not what it is labelled:
- MIG: allocatable `nvidia.com/mig-*` > 0;
- software sharing: allocatable `nvidia.com/gpu.shared` > 0 (the device plugin's renamed replicas), or allocatable
  of the GPU resource larger than the node's physical GPUs (`nvidia.com/gpu.count`, else its DRA GPU devices);
- DRA: devices of an accelerator driver's ResourceSlices that are MIG partitions (`type=mig`), partitions of a
  shared counter set (`consumesCounters`) or allow several allocations (`allowMultipleAllocations`).
A sharing label (`nvidia.com/gpu.sharing-strategy` time-slicing/mps, `nvidia.com/gpu.replicas` > 1) is not proof:
when allocatable shows no more GPUs than the node has, the node is named as a fault (`SharingNotAdvertised`).

Verdicts and tiers:
- Implemented (`APIVerified`): one node offering a strategy is enough ("at least one"). Tier `ControllerStatus`
  when the kubelet of a Ready node advertises it in `allocatable` (written from the device plugin's
  registration: a live component's status) or a DRA kubelet plugin published it (slices owned by their Node);
  showing that pods really share one GPU UUID is a hardware test, only mentioned.
- Partially Implemented (`PresenceOnly`, by `evidence.enforce`): sharing seen only in slices no Node owns or on
  nodes that are not Ready (tier `APIPresence`).
- Not Implemented: `SharingNotAdvertised` (labels only, nodes named as faults); `SharingNotConfigured` (NVIDIA
  nodes without any strategy; every NVIDIA GPU supports time-slicing, MIG-capable nodes are named).
- Unknown (condition): `UnrecognizedAccelerator` (another vendor without a recognised signal),
  `NoAcceleratorNodes` (nothing to evaluate), `Unreadable` (nodes, resourceslices or deviceclasses unlisted).
- N/A: never from the check; a platform without sharing declares it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import API_PRESENCE, CONTROLLER_STATUS
from aiconform.conformance.facts import (
    accelerator_fleet,
    as_list,
    as_map,
    capped,
    class_devices,
    device_attr,
    devices,
    labels,
    name,
    names_list,
    no_accelerator_nodes,
    node_ready,
    published_by_kubelet_plugin,
    ref,
    slices_by_node,
    status_of,
    to_int,
    unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    SHARING_NOT_ADVERTISED,
    SHARING_NOT_CONFIGURED,
    UNRECOGNIZED_ACCELERATOR,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "gpu_sharing"
SOURCES = ("nodes", "resourceslices.resource.k8s.io", "deviceclasses.resource.k8s.io")
MIG_PREFIX = "nvidia.com/mig-"
SHARED_RESOURCE = "nvidia.com/gpu.shared"
SOFTWARE_STRATEGIES = ("time-slicing", "mps")
MIG_DEVICE_CLASS = "mig.nvidia.com"


@dataclass
class Signals:
    """What one node shows: advertised strategies (live or presence only) and labels without devices."""

    live: list[str] = field(default_factory=list)
    presence: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # "MIG", "time-slicing/MPS", "DRA"


def _physical_gpus(node: Obj, slices: list[Obj]) -> int:
    counted = to_int(labels(node).get("nvidia.com/gpu.count"))
    if counted:
        return counted
    return sum(1 for rs in slices for d in devices(rs) if device_attr(d, "type") == "gpu")


def _advertised(node: Obj, slices: list[Obj], resource: str, found: Signals) -> None:
    allocatable = as_map(status_of(node).get("allocatable"))
    bucket = found.live if node_ready(node) else found.presence
    stale = "" if node_ready(node) else " (node not Ready)"
    for key, value in sorted(allocatable.items()):
        if str(key).startswith(MIG_PREFIX) and to_int(value) > 0:
            bucket.append(f"Node/{name(node)} allocatable {key}={value}{stale}")
            found.kinds.add("MIG")
    if to_int(allocatable.get(SHARED_RESOURCE)) > 0:
        bucket.append(f"Node/{name(node)} allocatable {SHARED_RESOURCE}={allocatable[SHARED_RESOURCE]}{stale}")
        found.kinds.add("time-slicing/MPS")
    physical = _physical_gpus(node, slices)
    advertised = to_int(allocatable.get(resource))
    if physical and advertised > physical:
        bucket.append(f"Node/{name(node)} allocatable {resource}={advertised} > {physical} physical GPUs{stale}")
        found.kinds.add("time-slicing/MPS")


def _shared_device(device: Mapping[str, Any]) -> bool:
    return (
        device_attr(device, "type") == "mig"
        or bool(as_list(device.get("consumesCounters")))
        or device.get("allowMultipleAllocations") is True
    )


def _dra(slices: list[Obj], found: Signals) -> None:
    for rs in slices:
        shared = sum(1 for d in devices(rs) if _shared_device(d))
        if not shared:
            continue
        live = published_by_kubelet_plugin(rs)
        entry = f"{ref('ResourceSlice', rs)} {shared} shareable devices (MIG/partitions)"
        (found.live if live else found.presence).append(entry if live else f"{entry}, not owned by its Node")
        found.kinds.add("DRA")


def _label_claim(node: Obj, resource: str) -> str | None:
    """A sharing label on a node that advertises no sharing: the label is not proof."""
    node_labels = labels(node)
    strategy = node_labels.get("nvidia.com/gpu.sharing-strategy", "")
    replicas = to_int(node_labels.get("nvidia.com/gpu.replicas"))
    claims = [f"nvidia.com/gpu.sharing-strategy={strategy}"] if strategy in SOFTWARE_STRATEGIES else []
    claims += [f"nvidia.com/gpu.replicas={replicas}"] if replicas > 1 else []
    if not claims:
        return None
    allocatable = to_int(as_map(status_of(node).get("allocatable")).get(resource))
    count = labels(node).get("nvidia.com/gpu.count", "?")
    return (
        f"Node/{name(node)} labelled {', '.join(claims)} but allocatable {resource}={allocatable} is not more than "
        f"its {count} GPUs"
    )


def _mig_class(snapshot: Snapshot) -> list[str]:
    out = []
    for dc in snapshot.device_classes:
        if name(dc) == MIG_DEVICE_CLASS and class_devices(dc, snapshot.resource_slices)[0]:
            out.append(f"DeviceClass/{MIG_DEVICE_CLASS} selects published MIG devices")
    return out


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    fleet = accelerator_fleet(snapshot, spec)
    if not fleet.nodes:
        return no_accelerator_nodes(ID, spec)
    slices = slices_by_node(snapshot, accelerators_only=True)
    resource = spec.accelerators.resource_name
    per_node: dict[str, Signals] = {}
    claims: list[str] = []
    for node in fleet.nodes:
        found = Signals()
        node_slices = slices.get(name(node), [])
        _advertised(node, node_slices, resource, found)
        _dra(node_slices, found)
        if found.live or found.presence:
            per_node[name(node)] = found
        elif (claim := _label_claim(node, resource)) is not None:
            claims.append(claim)
    evidence = [e for f in per_node.values() for e in (*f.live, *f.presence)] + _mig_class(snapshot)
    evidence += fleet.evidence()
    if per_node:
        return _offered(per_node, claims, capped(evidence), fleet.note())
    if claims:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            SHARING_NOT_ADVERTISED,
            f"sharing is labelled but not advertised: {names_list(claims, 5)}; the device plugin's sharing config "
            f"(time-slicing/MPS replicas) is not in effect{fleet.note()}",
            capped(evidence),
            faults=tuple(claims),
        )
    if spec.accelerators.vendor != "nvidia":
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            UNRECOGNIZED_ACCELERATOR,
            f"no recognized sharing signal on the {spec.accelerators.vendor} accelerator nodes; declare the status "
            f"in spec.requirements.{ID} with evidence{fleet.note()}",
        )
    capable = [name(n) for n in fleet.nodes if labels(n).get("nvidia.com/mig.capable") == "true"]
    hint = f"; MIG-capable nodes: {names_list(capable)}" if capable else ""
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        SHARING_NOT_CONFIGURED,
        f"no GPU sharing on any of the {len(fleet.nodes)} accelerator nodes ({names_list(fleet.names)}): "
        f"configure time-slicing or MPS in the device plugin, or MIG{hint}{fleet.note()}",
        capped(evidence),
    )


def _offered(per_node: dict[str, Signals], claims: list[str], evidence: tuple[str, ...], note: str) -> Verdict:
    live = sorted(n for n, f in per_node.items() if f.live)
    by_kind: dict[str, list[str]] = {}
    for node, found in sorted(per_node.items()):
        for kind in sorted(found.kinds):
            by_kind.setdefault(kind, []).append(node)
    parts = "; ".join(f"{kind} on {names_list(nodes)}" for kind, nodes in by_kind.items())
    tier = CONTROLLER_STATUS if live else API_PRESENCE
    source = (
        f"advertised by the kubelet / DRA kubelet plugin on {names_list(live)}"
        if live
        else "seen only in ResourceSlices no Node owns or on nodes that are not Ready"
    )
    labelled = f"; labelled but not advertised: {names_list(claims, 3)}" if claims else ""
    verdict = Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"GPU sharing exposed as schedulable resources: {parts} ({source}){labelled}{note}; proving that pods share "
        "one physical GPU (same UUID) is a hardware test",
        evidence,
        tier=tier,
    )
    return dataclasses.replace(verdict, faults=tuple(claims)) if claims else verdict
