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

from aiconform.api.models import ProfileSpec
from aiconform.components import _quantity as q
from aiconform.components._common import (
    Manifest,
    Plan,
    ProfileRef,
    crd_missing,
    dns1123_label,
    make_plan,
    manifest,
    object_meta,
    selector_dict,
    short_hash,
    tenant_namespaces,
)
from aiconform.conformance.facts import accelerator_nodes, as_map, labels, name, status_of
from aiconform.kube.snapshot import Obj, Snapshot

COMPONENT = "kueue"
GROUP_VERSION = "kueue.x-k8s.io/v1beta2"
CRDS = tuple(f"{p}.kueue.x-k8s.io" for p in ("clusterqueues", "resourceflavors", "localqueues"))
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


def local_queue(spec: ProfileSpec, namespace: str, ref: ProfileRef) -> Manifest:
    kueue = spec.components.kueue
    return manifest(
        "LocalQueue",
        object_meta(ref, COMPONENT, kueue.local_queue, namespace),
        spec={"clusterQueue": kueue.cluster_queue},
    )


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    missing = crd_missing(snapshot, CRDS, GROUP_VERSION)
    if missing:
        return make_plan(notes=[f"Kueue {missing}: no queue created"])
    notes: list[str] = []
    pools = gpu_pools(spec, snapshot)
    if not pools:
        notes.append(
            f"no accelerator node: ClusterQueue {spec.components.kueue.cluster_queue} has no GPU quota "
            "(it admits nothing until GPU nodes join)"
        )
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
    objects += [local_queue(spec, ns, ref) for ns in tenant_namespaces(spec, snapshot)]
    return make_plan(objects, notes=notes)
