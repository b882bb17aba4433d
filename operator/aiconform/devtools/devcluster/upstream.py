"""Upstream CRDs (Kueue, KEDA, Gateway API, Prometheus Operator) read from the Go module cache at run time.

`go mod download -json MODULE@VERSION` prints the extracted module's `Dir`; nothing of theirs is committed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aiconform.devtools.devcluster import versions
from aiconform.devtools.devcluster.build import check_go, download_module
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.kube.client import KubeClient, gather_bounded

FIELD_MANAGER = "aiconform-devcluster"


@dataclass(frozen=True)
class CrdSet:
    module: str
    version: str
    globs: tuple[str, ...]


CRD_SETS: dict[str, CrdSet] = {
    "kueue": CrdSet("sigs.k8s.io/kueue", versions.KUEUE, ("config/components/crd/bases/kueue.x-k8s.io_*.yaml",)),
    # The eventing ones too: the KEDA operator's manager watches CloudEventSources and stops without their CRDs.
    "keda": CrdSet(
        "github.com/kedacore/keda/v2",
        versions.KEDA,
        ("config/crd/bases/keda.sh_*.yaml", "config/crd/bases/eventing.keda.sh_*.yaml"),
    ),
    "gateway-api": CrdSet(
        "sigs.k8s.io/gateway-api",
        versions.GATEWAY_API,
        ("config/crd/standard/gateway.networking.k8s.io_*.yaml",),
    ),
    "servicemonitor": CrdSet(
        "github.com/prometheus-operator/prometheus-operator",
        versions.PROMETHEUS_OPERATOR,
        tuple(
            f"example/prometheus-operator-crd/monitoring.coreos.com_{k}.yaml"
            for k in ("servicemonitors", "podmonitors", "prometheuses")
        ),
    ),
}


def parse_sets(spec: str) -> list[str]:
    names = list(CRD_SETS) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in CRD_SETS]
    if unknown:
        raise DevClusterError("select CRD sets", f"unknown set(s) {', '.join(unknown)}; known: {', '.join(CRD_SETS)}")
    return names


def module_dir(module: str, version: str) -> Path:
    return Path(download_module(check_go(), f"{module}@{version}")["Dir"])


def load_crds(name: str) -> list[dict[str, Any]]:
    """The CRD documents of one set, straight from the module cache."""
    crd_set = CRD_SETS[name]
    root = module_dir(crd_set.module, crd_set.version)
    docs: list[dict[str, Any]] = []
    for pattern in crd_set.globs:
        files = sorted(root.glob(pattern))
        if not files:
            raise DevClusterError(f"read {name} CRDs", f"no file matches {pattern} in {root}")
        for path in files:
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    docs.append(doc)
    return docs


async def install(kube: KubeClient, names: list[str], timeout: float = 60.0) -> list[str]:
    """Server-side apply (Kueue's Workload CRD is too large for client-side apply) and wait for Established."""
    crds = [crd for name in names for crd in load_crds(name)]
    await gather_bounded(kube.apply(crd, field_manager=FIELD_MANAGER) for crd in crds)
    crd_names = [crd["metadata"]["name"] for crd in crds]
    await wait_established(kube, crd_names, timeout)
    return crd_names


async def uninstall(kube: KubeClient, names: list[str]) -> None:
    crds = [crd for name in names for crd in load_crds(name)]
    await gather_bounded(kube.delete(crd) for crd in crds)


async def wait_established(kube: KubeClient, names: list[str], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            got = await kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            # A freshly created CRD has `status.conditions: null` for a moment.
            conds = ((got or {}).get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                pending.discard(name)
        if pending and loop.time() > deadline:
            raise DevClusterError(
                "wait for CRDs", f"not Established after {timeout:.0f}s: {', '.join(sorted(pending))}"
            )
        if pending:
            await asyncio.sleep(0.2)
