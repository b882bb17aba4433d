"""driver_runtime_management (KAR-0001; SHOULD since 1.35).

Asks: "Provide a verifiable mechanism for ensuring that compatible accelerator drivers and corresponding
container runtime configurations are correctly installed and maintained on nodes with accelerators. Once the
accelerator supports exposing driver and runtime version information as part of DRA, then the platform should
use the DRA mechanism for verification."

We verify, per accelerator node (`facts.accelerator_fleet`: nodes exposing accelerators, plus those
spec.accelerators.nodeSelector selects; nodes outside the selector are named), the advertised driver version:
the `driverVersion` device attribute of the ResourceSlices of an accelerator vendor's DRA driver (a NIC driver's
slices never count), or else the GPU Feature Discovery label `nvidia.com/cuda.driver-version.full`. Nodes are
pooled by `nvidia.com/gpu.product` (or the DRA `productName`). Failures, in order of severity, all Not
Implemented and all named as `faults` (a declaration cannot hide them):
- `DriverBelowMinimum`: a version below spec.accelerators.minDriverVersion (compared numerically);
- `DriverVersionSkew`: nodes of one pool disagree (the minority nodes are named with their versions);
- `DriverSourcesDisagree`: the node's GFD label and its DRA `driverVersion` name different versions (the node's
  driver state is inconsistent; node and both values named);
- `DriverDaemonSetNotReady`: a GPU Operator driver/toolkit/validator DaemonSet exists but is not fully Ready;
- `DriverVersionUnknown`: nodes advertise no version at all.

Verdicts and tiers:
- Implemented (`APIVerified`, tier `ControllerStatus`): uniform, recent-enough versions from DRA on every node,
  every one from a slice its Node owns — what a DRA driver's kubelet plugin publishes from the driver it loaded
  (a live component's report; the DRA attributes *are* the verifiable mechanism the checklist asks for).
  Comparing them with `nvidia-smi` inside a pod is a hardware test, only mentioned.
- Partially Implemented: the same from slices no Node owns (tier `APIPresence`: anyone can create a slice;
  `evidence.enforce` makes it `PresenceOnly`), or versions known only from node labels (`DriverVersionNotInDRA`:
  NVIDIA's DRA driver can publish them, so the checklist's DRA clause is not met).
- Not Implemented: the failures above.
- Unknown (condition): `NoAcceleratorNodes` (nothing to evaluate), `UnrecognizedAccelerator` (a non-NVIDIA
  accelerator without DRA version attributes: KAR rule, Unknown rather than failure), `Unreadable` (nodes,
  resourceslices or daemonsets could not be listed).
- N/A: never from the check; only declared.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import API_PRESENCE, CONTROLLER_STATUS
from aiconform.conformance.facts import (
    AcceleratorFleet,
    Problem,
    accelerator_fleet,
    capped,
    device_attr,
    devices,
    from_problems,
    labels,
    name,
    names_list,
    no_accelerator_nodes,
    parse_version,
    plural,
    published_by_kubelet_plugin,
    ref,
    slices_by_node,
    status_of,
    to_int,
    unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    DRIVER_BELOW_MINIMUM,
    DRIVER_DAEMONSET_NOT_READY,
    DRIVER_SOURCES_DISAGREE,
    DRIVER_VERSION_NOT_IN_DRA,
    DRIVER_VERSION_SKEW,
    DRIVER_VERSION_UNKNOWN,
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    PARTIAL,
    UNRECOGNIZED_ACCELERATOR,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "driver_runtime_management"
DRIVER_LABEL = "nvidia.com/cuda.driver-version.full"
PRODUCT_LABEL = "nvidia.com/gpu.product"
# GPU Operator DaemonSets (the driver one carries a kernel suffix with precompiled drivers).
OPERATOR_DAEMONSETS = ("nvidia-driver-daemonset", "nvidia-container-toolkit-daemonset", "nvidia-operator-validator")
SOURCES = ("nodes", "resourceslices.resource.k8s.io", "daemonsets.apps")


@dataclass(frozen=True)
class NodeDriver:
    node: str
    pool: str
    raw: str | None  # as advertised, for messages
    version: tuple[int, ...] | None
    source: str  # "DRA", "label" or ""
    label: str | None = None  # the GFD label's value, when it disagrees with DRA
    live: bool = False  # DRA version from slices the node owns (a kubelet plugin published them)


def _from_slices(slices: list[Obj]) -> tuple[str | None, str | None]:
    """(lowest driverVersion over the node's devices, productName) from its ResourceSlices."""
    found: list[tuple[tuple[int, ...], str]] = []
    product = None
    for rs in slices:
        for dev in devices(rs):
            raw = device_attr(dev, "driverVersion")
            parsed = parse_version(raw)
            if parsed is not None:
                found.append((parsed, str(raw)))
            product = product or device_attr(dev, "productName")
    lowest = min(found)[1] if found else None
    return lowest, (str(product) if product else None)


def _node_driver(node: Obj, slices: list[Obj], vendor: str) -> NodeDriver:
    node_labels = labels(node)
    dra_raw, dra_product = _from_slices(slices)
    pool = node_labels.get(PRODUCT_LABEL) or dra_product or "(unknown product)"
    label_raw = node_labels.get(DRIVER_LABEL) if vendor == "nvidia" else None
    if dra_raw is not None:
        dra_version = parse_version(dra_raw)
        label_version = parse_version(label_raw)
        disagrees = label_raw if label_version is not None and label_version != dra_version else None
        live = all(published_by_kubelet_plugin(rs) for rs in slices)
        return NodeDriver(name(node), pool, dra_raw, dra_version, "DRA", disagrees, live)
    if label_raw and parse_version(label_raw) is not None:
        return NodeDriver(name(node), pool, label_raw, parse_version(label_raw), "label")
    return NodeDriver(name(node), pool, None, None, "")


def _skew(drivers: list[NodeDriver]) -> list[str]:
    """Per pool with more than one version: the minority nodes and their versions."""
    pools: dict[str, list[NodeDriver]] = defaultdict(list)
    for d in drivers:
        if d.version is not None:
            pools[d.pool].append(d)
    out = []
    for pool, members in sorted(pools.items()):
        counts = Counter(d.version for d in members)
        if len(counts) < 2:
            continue
        # Most common version wins; on a tie the highest (an upgrade in progress is the likely cause).
        common = max(counts, key=lambda v: (counts[v], v))
        raw = next(d.raw for d in members if d.version == common)
        odd = [f"{d.node} ({d.raw})" for d in members if d.version != common]
        out.append(f"pool {pool} runs {raw} on {plural(counts[common], 'node')} but differs on {names_list(odd)}")
    return out


def _below_minimum(drivers: list[NodeDriver], minimum: str | None) -> list[str]:
    floor = parse_version(minimum)
    if floor is None:
        return []
    return [f"{d.node} ({d.raw})" for d in drivers if d.version is not None and d.version < floor]


def _daemonset_problems(snapshot: Snapshot) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    evidence: list[str] = []
    for ds in sorted(snapshot.daemonsets, key=name):
        if not name(ds).startswith(OPERATOR_DAEMONSETS):
            continue
        st = status_of(ds)
        ready, desired = to_int(st.get("numberReady")), to_int(st.get("desiredNumberScheduled"))
        state = f"{ref('DaemonSet', ds)} {ready}/{desired} ready"
        (evidence if ready >= desired else problems).append(state)
    return problems, evidence


def _disagreements(drivers: list[NodeDriver]) -> list[str]:
    return [f"Node/{d.node} label {DRIVER_LABEL}={d.label} but DRA driverVersion={d.raw}" for d in drivers if d.label]


def _problems(drivers: list[NodeDriver], spec: ProfileSpec, ds_problems: list[str]) -> list[Problem]:
    problems = []
    below = _below_minimum(drivers, spec.accelerators.min_driver_version)
    if below:
        problems.append(
            Problem(
                DRIVER_BELOW_MINIMUM,
                f"driver below spec.accelerators.minDriverVersion {spec.accelerators.min_driver_version} on "
                f"{names_list(below)}: upgrade the driver on these nodes",
            )
        )
    problems += [Problem(DRIVER_VERSION_SKEW, f"driver version skew: {s}") for s in _skew(drivers)]
    disagree = _disagreements(drivers)
    if disagree:
        problems.append(
            Problem(
                DRIVER_SOURCES_DISAGREE,
                "driver state inconsistent (GPU Feature Discovery and the DRA driver disagree): "
                f"{names_list(disagree, 5)}",
            )
        )
    if ds_problems:
        problems.append(
            Problem(DRIVER_DAEMONSET_NOT_READY, f"GPU Operator DaemonSets not ready: {names_list(ds_problems)}")
        )
    unknown = [d.node for d in drivers if d.version is None]
    if unknown:
        problems.append(
            Problem(
                DRIVER_VERSION_UNKNOWN,
                f"no driver version advertised (ResourceSlice attribute driverVersion or label {DRIVER_LABEL}) "
                f"on {names_list(unknown)}",
            )
        )
    return problems


def _evidence(drivers: list[NodeDriver], slices: dict[str, list[Obj]], ds_evidence: list[str]) -> list[str]:
    entries = []
    for d in drivers:
        if d.source == "DRA":
            entries.append(f"{names_list(ref('ResourceSlice', rs) for rs in slices[d.node])} driverVersion={d.raw}")
        elif d.source == "label":
            entries.append(f"Node/{d.node} {DRIVER_LABEL}={d.raw}")
    return [*capped(entries), *capped(ds_evidence)]


def _summary(drivers: list[NodeDriver]) -> str:
    pools: dict[str, set[str]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for d in drivers:
        pools[d.pool].add(str(d.raw))
        sizes[d.pool] += 1
    return "; ".join(
        f"{pool}: {'/'.join(sorted(v))} on {plural(sizes[pool], 'node')}" for pool, v in sorted(pools.items())
    )


def _faults(drivers: list[NodeDriver], spec: ProfileSpec) -> tuple[str, ...]:
    floor = spec.accelerators.min_driver_version
    below = [f"Node/{n} driver below {floor}" for n in _below_minimum(drivers, floor)]
    return tuple(below + _disagreements(drivers) + _skew(drivers))


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    fleet = accelerator_fleet(snapshot, spec)
    if not fleet.nodes:
        return no_accelerator_nodes(ID, spec)
    slices = slices_by_node(snapshot, accelerators_only=True)
    drivers = [_node_driver(n, slices.get(name(n), []), spec.accelerators.vendor) for n in fleet.nodes]
    ds_problems, ds_evidence = _daemonset_problems(snapshot)
    evidence = [*_evidence(drivers, slices, ds_evidence), *fleet.evidence()]
    if all(d.version is None for d in drivers) and spec.accelerators.vendor != "nvidia":
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            UNRECOGNIZED_ACCELERATOR,
            f"no DRA driverVersion attribute on the {spec.accelerators.vendor} accelerator nodes and no known "
            f"labels for this vendor; declare the status in spec.requirements.{ID} with evidence{fleet.note()}",
            tuple(evidence),
        )
    problems = _problems(drivers, spec, ds_problems)
    if problems:
        verdict = from_problems(ID, NOT_IMPLEMENTED, problems, evidence)
        return dataclasses.replace(verdict, message=verdict.message + fleet.note(), faults=_faults(drivers, spec))
    return _uniform(drivers, spec, fleet, tuple(evidence))


def _uniform(
    drivers: list[NodeDriver], spec: ProfileSpec, fleet: AcceleratorFleet, evidence: tuple[str, ...]
) -> Verdict:
    floor = spec.accelerators.min_driver_version
    minimum = f", all at least {floor}" if floor else ""
    labelled = [d.node for d in drivers if d.source == "label"]
    if labelled:
        return Verdict(
            ID,
            PARTIAL,
            DRIVER_VERSION_NOT_IN_DRA,
            f"driver versions uniform per pool ({_summary(drivers)}{minimum}) but advertised only by node labels on "
            f"{names_list(labelled)}; the checklist asks for the DRA mechanism: run the NVIDIA DRA driver so "
            f"ResourceSlices carry driverVersion{fleet.note()}",
            evidence,
        )
    unowned = [d.node for d in drivers if not d.live]
    live = (
        "published by the DRA kubelet plugins (slices owned by their Node)"
        if not unowned
        else f"but the slices of {names_list(unowned)} are not owned by their Node, so no DRA kubelet plugin is "
        "shown to have published them"
    )
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"driver versions from DRA ResourceSlice attributes are uniform per pool ({_summary(drivers)}{minimum}), "
        f"{live}{fleet.note()}; comparing them with nvidia-smi inside a pod is a hardware test",
        evidence,
        tier=API_PRESENCE if unowned else CONTROLLER_STATUS,
    )
