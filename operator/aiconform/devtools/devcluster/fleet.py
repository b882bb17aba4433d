"""The simulated GPU fleet: kwok-managed Nodes labelled the way GPU Feature Discovery labels them, and the
`resource.k8s.io/v1` ResourceSlices a DRA driver would publish for each GPU node.

Builders are pure (pool spec → objects) so they are unit-tested and reused by benchmarks at any size.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiconform.kube.client import KubeClient, gather_bounded

FIELD_MANAGER = "aiconform-devcluster"
DRA_DRIVER = "gpu.nvidia.com"
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
FLEET_LABEL = "aiconform.io/dev-fleet"
POOL_LABEL = "aiconform.io/dev-pool"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
_UUID_NS = uuid.UUID("6a1c0a7e-5b1e-4f7e-9a44-61c0f0f5a1c0")


@dataclass(frozen=True)
class MigProfile:
    """GPUs of a node split into MIG slices: `gpus` of the node's GPUs become `slices_per_gpu` slices each."""

    name: str  # e.g. "1g.10gb"
    gpus: int
    slices_per_gpu: int
    memory: str


@dataclass(frozen=True)
class Pool:
    name: str
    count: int
    product: str = ""  # GFD's nvidia.com/gpu.product; empty for CPU-only pools
    gpus: int = 0
    gpu_memory_mib: int = 0
    driver: str = "550.90.07"  # as GFD prints it (nvidia.com/cuda.driver-version.full)
    cuda: str = "12.4"
    cpu: str = "32"
    memory: str = "256Gi"
    sharing: str = "none"
    mig: MigProfile | None = None
    architecture: str = ""

    @property
    def has_gpus(self) -> bool:
        return self.gpus > 0


def default_pools(h100: int = 2, a100: int = 2, cpu: int = 2) -> list[Pool]:
    return [
        Pool(
            "h100",
            h100,
            product="NVIDIA-H100-80GB-HBM3",
            gpus=8,
            gpu_memory_mib=81559,
            cpu="192",
            memory="2Ti",
            architecture="Hopper",
        ),
        Pool(
            "a100",
            a100,
            product="NVIDIA-A100-SXM4-80GB",
            gpus=8,
            gpu_memory_mib=81920,
            cpu="128",
            memory="1Ti",
            architecture="Ampere",
            driver="550.90.07",
            mig=MigProfile("1g.10gb", gpus=4, slices_per_gpu=7, memory="10Gi"),
        ),
        Pool("cpu", cpu, cpu="32", memory="128Gi"),
    ]


def node_name(pool: Pool, index: int) -> str:
    return f"kwok-{pool.name}-{index:04d}"


def semver(driver: str) -> str:
    """DRA `version` attributes are semver: no leading zeros ("550.90.07" → "550.90.7")."""
    parts = [str(int(p)) for p in driver.split(".")][:3]
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts)


def gpu_uuid(node: str, index: int) -> str:
    return f"GPU-{uuid.uuid5(_UUID_NS, f'{node}/{index}')}"


def node_object(pool: Pool, index: int) -> dict[str, Any]:
    name = node_name(pool, index)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        FLEET_LABEL: "true",
        POOL_LABEL: pool.name,
    }
    capacity = {"cpu": pool.cpu, "memory": pool.memory, "pods": "110", "ephemeral-storage": "1Ti"}
    taints: list[dict[str, str]] = []
    if pool.has_gpus:
        whole = pool.gpus - (pool.mig.gpus if pool.mig else 0)
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": pool.product,
                "nvidia.com/gpu.count": str(pool.gpus),
                "nvidia.com/gpu.memory": str(pool.gpu_memory_mib),
                "nvidia.com/gpu.family": pool.architecture.lower(),
                "nvidia.com/cuda.driver-version.full": pool.driver,
                "nvidia.com/cuda.driver-version.major": pool.driver.split(".")[0],
                "nvidia.com/cuda.runtime-version.full": pool.cuda,
                "nvidia.com/gpu.sharing-strategy": pool.sharing,
                "nvidia.com/mig.capable": "true" if pool.mig else "false",
                "nvidia.com/gpu.deploy.driver": "true",
                "nvidia.com/gpu-driver-upgrade-state": "upgrade-done",
            }
        )
        capacity["nvidia.com/gpu"] = str(whole)
        if pool.mig:
            labels["nvidia.com/mig.strategy"] = "mixed"
            capacity[f"nvidia.com/mig-{pool.mig.name}"] = str(pool.mig.gpus * pool.mig.slices_per_gpu)
        taints.append(GPU_TAINT)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": dict(KWOK_ANNOTATION)},
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def resource_slice(pool: Pool, index: int) -> dict[str, Any] | None:
    """One slice per GPU node, pool named after the node, as the NVIDIA DRA driver publishes them."""
    if not pool.has_gpus:
        return None
    name = node_name(pool, index)
    common = {
        "productName": {"string": pool.product.replace("-", " ")},
        "brand": {"string": "Nvidia"},
        "architecture": {"string": pool.architecture},
        "driverVersion": {"version": semver(pool.driver)},
        "cudaDriverVersion": {"version": semver(pool.cuda)},
    }
    devices: list[dict[str, Any]] = []
    mig_gpus = pool.mig.gpus if pool.mig else 0
    for gpu in range(pool.gpus):
        parent = gpu_uuid(name, gpu)
        if gpu >= pool.gpus - mig_gpus and pool.mig:
            for s in range(pool.mig.slices_per_gpu):
                devices.append(
                    {
                        "name": f"gpu-{gpu}-mig-{pool.mig.name.replace('.', '-')}-{s}",
                        "attributes": {
                            **common,
                            "type": {"string": "mig"},
                            "index": {"int": gpu},
                            "parentUUID": {"string": parent},
                            "profile": {"string": pool.mig.name},
                            "uuid": {"string": f"MIG-{uuid.uuid5(_UUID_NS, f'{parent}/{s}')}"},
                        },
                        "capacity": {"memory": {"value": pool.mig.memory}},
                    }
                )
        else:
            devices.append(
                {
                    "name": f"gpu-{gpu}",
                    "attributes": {
                        **common,
                        "type": {"string": "gpu"},
                        "index": {"int": gpu},
                        "uuid": {"string": parent},
                    },
                    "capacity": {"memory": {"value": f"{pool.gpu_memory_mib}Mi"}},
                }
            )
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{name}-{DRA_DRIVER}", "labels": {FLEET_LABEL: "true", POOL_LABEL: pool.name}},
        "spec": {
            "driver": DRA_DRIVER,
            "nodeName": name,
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def fleet_objects(pools: list[Pool]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes: list[dict[str, Any]] = []
    slices: list[dict[str, Any]] = []
    for pool in pools:
        for i in range(pool.count):
            nodes.append(node_object(pool, i))
            rs = resource_slice(pool, i)
            if rs is not None:
                slices.append(rs)
    return nodes, slices


async def apply_fleet(kube: KubeClient, pools: list[Pool], progress: Callable[[str], None]) -> tuple[int, int]:
    """Create or update every node (spec and status) and slice. Idempotent: re-running changes nothing."""
    nodes, slices = fleet_objects(pools)
    started = time.monotonic()

    async def one_node(node: dict[str, Any]) -> None:
        await kube.apply(node, field_manager=FIELD_MANAGER)
        # Node status is a subresource: capacity set at create is kept, but an update needs /status.
        status = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node["metadata"]["name"]},
            "status": node["status"],
        }
        await kube.apply(status, field_manager=FIELD_MANAGER, subresource="status")

    await gather_bounded(one_node(n) for n in nodes)
    await gather_bounded(kube.apply(s, field_manager=FIELD_MANAGER) for s in slices)
    progress(f"fleet: {len(nodes)} nodes, {len(slices)} ResourceSlices applied in {time.monotonic() - started:.1f}s")
    return len(nodes), len(slices)
