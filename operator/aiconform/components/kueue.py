"""Kueue: GPU quota and gang admission for the tenants through one ClusterQueue (kueue.x-k8s.io/v1beta2).

Objects:
- A ResourceFlavor per GPU pool. A pool is the accelerator nodes (spec.accelerators.nodeSelector) sharing a
  product label (nvidia `nvidia.com/gpu.product`, amd `amd.com/gpu.product-name`, intel
  `gpu.intel.com/product`). The flavor is named after the product as a DNS-1123 label
  (`NVIDIA-H100-80GB-HBM3` → `nvidia-h100-80gb-hbm3`; two products with the same spelling get a hash suffix)
  and pins workloads to the pool with `nodeLabels: {<product label>: <product>}`. Accelerator nodes without a
  product label form one pool `<vendor>-gpu` whose nodeLabels are the accelerator nodeSelector's matchLabels.
- ClusterQueue `spec.components.kueue.clusterQueue`: `namespaceSelector` = the tenants' selector, one resource
  group covering cpu, memory and the accelerator resource (spec.accelerators.resourceName) with one flavor per
  pool. GPU nominal quota: `gpusPerFlavor` when it is a number, else the pool's allocatable GPUs. CPU and memory:
  `cpuQuota`/`memoryQuota` split across pools in proportion to the pools' allocatable (in whole millicores
  and MiB, rounded down), else each pool's allocatable sum. No accelerator node: the ClusterQueue has no resource group
  (admits nothing) and a note says why.
- LocalQueue `spec.components.kueue.localQueue` in every tenant namespace, pointing at the ClusterQueue.

Adopting the platform's queue: with `existingClusterQueue`, no ResourceFlavor and no ClusterQueue is made (what
we made before is pruned); the LocalQueues point at that ClusterQueue, which is verified: it exists and is not
ours, it is not inactive (condition Active=False), a flavor with a positive nominal quota of the accelerator
resource matches every GPU pool's nodes (the ResourceFlavor's nodeLabels), and its namespaceSelector admits
every tenant namespace. All verified: a `Provided` note; else a `Blocked` note naming what is missing.

Blocked (state `Blocked`, nothing ready to admit GPU work): the Kueue CRDs absent, or no accelerator node.

v1beta2 schema notes (Kueue v0.19, config/components/crd/bases): every flavor lists exactly the covered
resources, in order; at most 64 flavors per resource group; `cohortName` (v1beta1: `cohort`) is left unset, so
no borrowing limits may be set either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import ValidationError

from aiconform.api.models import LabelSelector, ProfileSpec
from aiconform.components import _quantity as q
from aiconform.components._common import (
    Manifest,
    Plan,
    ProfileRef,
    crd_missing,
    dns1123_label,
    is_ours,
    make_plan,
    manifest,
    object_meta,
    selector_dict,
    short_hash,
    tenant_namespaces,
)
from aiconform.conformance.facts import (
    accelerator_nodes,
    as_list,
    as_map,
    condition,
    labels,
    name,
    names_list,
    spec_of,
    status_of,
)
from aiconform.kube.snapshot import Obj, Snapshot

COMPONENT = "kueue"
GROUP_VERSION = "kueue.x-k8s.io/v1beta2"
CRDS = tuple(f"{p}.kueue.x-k8s.io" for p in ("clusterqueues", "resourceflavors", "localqueues"))
CLUSTER_QUEUES, RESOURCE_FLAVORS = CRDS[0], CRDS[1]
PRODUCT_LABELS: Mapping[str, str] = {
    "nvidia": "nvidia.com/gpu.product",
    "amd": "amd.com/gpu.product-name",
    "intel": "gpu.intel.com/product",
}
MAX_FLAVORS = 64  # per resource group, from the CRD


@dataclass(frozen=True)
class GpuPool:
    """Accelerator nodes of one product, with what they can allocate in total."""

    flavor: str
    node_labels: Mapping[str, str]
    nodes: tuple[str, ...]
    gpus: Fraction
    cpu: Fraction
    memory: Fraction


def _allocatable(node: Obj, resource: str) -> Fraction:
    status = status_of(node)
    value = as_map(status.get("allocatable")).get(resource, as_map(status.get("capacity")).get(resource))
    return q.parse(value if isinstance(value, int | str) else None) or Fraction(0)


def _total(nodes: list[Obj], resource: str) -> Fraction:
    return sum((_allocatable(n, resource) for n in nodes), Fraction(0))


def gpu_pools(spec: ProfileSpec, snapshot: Snapshot) -> list[GpuPool]:
    """The GPU pools, sorted by flavor name."""
    vendor = spec.accelerators.vendor
    product_label = PRODUCT_LABELS[vendor]
    groups: dict[str, list[Obj]] = defaultdict(list)
    for node in accelerator_nodes(snapshot, spec):
        groups[labels(node).get(product_label, "")].append(node)
    slugs = [dns1123_label(p) for p in groups if p]
    pools: list[GpuPool] = []
    for product, nodes in groups.items():
        if product:
            flavor = dns1123_label(product)
            if slugs.count(flavor) > 1:
                flavor = dns1123_label(f"{flavor}-{short_hash(product)}")
            node_labels: Mapping[str, str] = {product_label: product}
        else:
            flavor = f"{vendor}-gpu"
            node_labels = dict(spec.accelerators.node_selector.match_labels)
        pools.append(
            GpuPool(
                flavor=flavor,
                node_labels=dict(sorted(node_labels.items())),
                nodes=tuple(sorted(name(n) for n in nodes)),
                gpus=_total(nodes, spec.accelerators.resource_name),
                cpu=_total(nodes, "cpu"),
                memory=_total(nodes, "memory"),
            )
        )
    return sorted(pools, key=lambda p: p.flavor)


def _shares(explicit: int | str | None, capacities: list[Fraction], unit: Fraction) -> list[Fraction]:
    """Per pool: the explicit total split by capacity, or each pool's own capacity."""
    total = q.parse(explicit)
    return capacities if total is None else q.split(total, capacities, unit)


def _flavor_quotas(spec: ProfileSpec, pools: list[GpuPool]) -> list[dict[str, str]]:
    """Per pool: nominal quota of cpu, memory and the accelerator resource, as quantity strings."""
    kueue = spec.components.kueue
    cpus = _shares(kueue.cpu_quota, [p.cpu for p in pools], q.MILLI)
    memories = _shares(kueue.memory_quota, [p.memory for p in pools], q.MEBI)
    out = []
    for pool, cpu, memory in zip(pools, cpus, memories, strict=True):
        gpus = kueue.gpus_per_flavor if isinstance(kueue.gpus_per_flavor, int) else q.format_count(pool.gpus)
        out.append(
            {
                "cpu": q.format_cpu(cpu),
                "memory": q.format_memory(memory),
                spec.accelerators.resource_name: str(gpus),
            }
        )
    return out


def resource_flavor(pool: GpuPool, ref: ProfileRef) -> Manifest:
    return manifest(
        "ResourceFlavor", object_meta(ref, COMPONENT, pool.flavor), spec={"nodeLabels": dict(pool.node_labels)}
    )


def cluster_queue(spec: ProfileSpec, pools: list[GpuPool], ref: ProfileRef) -> Manifest:
    covered = ["cpu", "memory", spec.accelerators.resource_name]
    cq_spec: dict[str, Any] = {"namespaceSelector": selector_dict(spec.tenants.namespace_selector)}
    if pools:
        flavors = [
            {"name": pool.flavor, "resources": [{"name": r, "nominalQuota": quotas[r]} for r in covered]}
            for pool, quotas in zip(pools, _flavor_quotas(spec, pools), strict=True)
        ]
        cq_spec["resourceGroups"] = [{"coveredResources": covered, "flavors": flavors}]
    return manifest("ClusterQueue", object_meta(ref, COMPONENT, spec.components.kueue.cluster_queue), spec=cq_spec)


def queue_name(spec: ProfileSpec) -> str:
    """The ClusterQueue the LocalQueues point at: the adopted one, else the one we build."""
    kueue = spec.components.kueue
    return kueue.existing_cluster_queue or kueue.cluster_queue


def local_queue(spec: ProfileSpec, namespace: str, ref: ProfileRef) -> Manifest:
    kueue = spec.components.kueue
    return manifest(
        "LocalQueue",
        object_meta(ref, COMPONENT, kueue.local_queue, namespace),
        spec={"clusterQueue": queue_name(spec)},
    )


# ---------------------------------------------------------------------------------------------------------------
# An existing ClusterQueue, adopted by reference


def _accelerator_flavors(cq: Obj, resource: str) -> list[str]:
    """Flavors of the ClusterQueue with a positive nominal quota of `resource`."""
    out: list[str] = []
    for group in as_list(spec_of(cq).get("resourceGroups")):
        if resource not in [str(r) for r in as_list(as_map(group).get("coveredResources"))]:
            continue
        for flavor in as_list(as_map(group).get("flavors")):
            for res in as_list(as_map(flavor).get("resources")):
                quota = as_map(res).get("nominalQuota")
                amount = q.parse(quota if isinstance(quota, int | str) else None)
                if as_map(res).get("name") == resource and amount is not None and amount > 0:
                    out.append(str(as_map(flavor).get("name")))
    return out


def _admits(cq: Obj, ns: Obj) -> bool | None:
    """Whether the ClusterQueue's namespaceSelector selects the namespace (Kueue: unset selects none); None when
    the selector cannot be read."""
    raw = spec_of(cq).get("namespaceSelector")
    if raw is None:
        return False
    try:
        selector = LabelSelector.model_validate(raw)
    except ValidationError:
        return None
    return selector.matches(labels(ns))


def verify_existing_queue(
    spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef, pools: list[GpuPool]
) -> tuple[list[str], list[str]]:
    """(provided, blocked) for spec.components.kueue.existingClusterQueue."""
    cq_name = str(spec.components.kueue.existing_cluster_queue)
    field = "spec.components.kueue.existingClusterQueue"
    cq = next((o for o in snapshot.objects(CLUSTER_QUEUES) if name(o) == cq_name), None)
    if cq is None:
        return [], [f"ClusterQueue {cq_name} ({field}) not found: the LocalQueues point at a queue that admits nothing"]
    if is_ours(cq, ref):
        return [], [f"ClusterQueue {cq_name} ({field}) was made by this profile: name a ClusterQueue the platform runs"]
    blocked: list[str] = []
    active = condition(cq, "Active")
    if active is not None and active.get("status") == "False":
        blocked.append(f"ClusterQueue {cq_name} is not Active: {active.get('reason', '')} {active.get('message', '')}")
    resource = spec.accelerators.resource_name
    flavor_names = _accelerator_flavors(cq, resource)
    flavors = {name(f): f for f in snapshot.objects(RESOURCE_FLAVORS) if name(f) in flavor_names}
    nodes = {name(n): labels(n) for n in accelerator_nodes(snapshot, spec)}
    covered: dict[str, str] = {}
    for pool in pools:
        for flavor_name in flavor_names:
            node_labels = as_map(spec_of(flavors.get(flavor_name, {})).get("nodeLabels"))
            if flavor_name in flavors and all(
                all(nodes.get(n, {}).get(str(k)) == str(v) for k, v in node_labels.items()) for n in pool.nodes
            ):
                covered[pool.flavor] = flavor_name
                break
    uncovered = [p.flavor for p in pools if p.flavor not in covered]
    if not flavor_names:
        blocked.append(f"ClusterQueue {cq_name} has no flavor with a {resource} quota")
    elif uncovered:
        blocked.append(
            f"ClusterQueue {cq_name} does not cover the GPU pools {names_list(uncovered)} (no flavor with a {resource} "
            f"quota whose ResourceFlavor nodeLabels match their nodes; its flavors: {', '.join(flavor_names)})"
        )
    tenants = [ns for ns in snapshot.namespaces if name(ns) in set(tenant_namespaces(spec, snapshot))]
    refused = [name(ns) for ns in tenants if _admits(cq, ns) is False]
    if refused:
        blocked.append(f"ClusterQueue {cq_name} does not admit the tenant namespaces {names_list(refused)}")
    via = ", ".join(f"{pool} via {flavor}" for pool, flavor in sorted(covered.items()))
    provided = f"ClusterQueue {cq_name} provided by the platform ({field}): covers {resource} on {via or 'no pool'}"
    provided += f"; admits {len(tenants) - len(refused)} of {len(tenants)} tenant namespaces"
    return [provided], blocked


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    missing = crd_missing(snapshot, CRDS, GROUP_VERSION)
    if missing:
        return make_plan(blocked=[f"Kueue {missing}: no queue created"])
    pools = gpu_pools(spec, snapshot)
    locals_ = [local_queue(spec, ns, ref) for ns in tenant_namespaces(spec, snapshot)]
    no_gpus = "no accelerator node: ClusterQueue {} has no GPU quota (it admits nothing until GPU nodes join)"
    if spec.components.kueue.existing_cluster_queue:
        provided, blocked = verify_existing_queue(spec, snapshot, ref, pools)
        if not pools:
            blocked.append(no_gpus.format(queue_name(spec)))
        return make_plan(locals_, blocked=blocked, provided=provided)
    notes: list[str] = []
    blocked = [] if pools else [no_gpus.format(spec.components.kueue.cluster_queue)]
    if len(pools) > MAX_FLAVORS:
        dropped = [p.flavor for p in pools[MAX_FLAVORS:]]
        notes.append(f"{len(pools)} GPU pools, Kueue allows {MAX_FLAVORS} flavors: left out {', '.join(dropped)}")
        pools = pools[:MAX_FLAVORS]
    unlabelled = [p for p in pools if not p.node_labels]
    if unlabelled:
        notes.append(
            f"ResourceFlavor {unlabelled[0].flavor} has no nodeLabels (accelerator nodes without a product label "
            "and a nodeSelector without matchLabels): its workloads may land on any node"
        )
    objects = [resource_flavor(p, ref) for p in pools]
    objects.append(cluster_queue(spec, pools, ref))
    objects += locals_
    return make_plan(objects, notes=notes, blocked=blocked)
