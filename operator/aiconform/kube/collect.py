"""One-shot collection of a Snapshot for `aiconform check`: discovery, LISTs and DCGM exporter scrapes.

The operator fills its Snapshot from watches; this module fills the same structure with one round of
concurrent GETs, so the checks see the same shape either way. It only reads: no object is ever written.

Failure policy:
- The API server unreachable, or credentials rejected (401) → `CollectError` (the caller exits 2).
- A resource the cluster does not serve (404), or an optional one the caller may not read (403) → empty.
- A core resource the checks cannot do without (nodes, pods, CRDs, ...) forbidden (403) → `CollectError` naming
  it: silently empty nodes would turn into wrong verdicts.
- A scrape that fails is recorded as `Scrape(ok=False, error=...)`; scrapes are bounded in concurrency and time
  and never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError
from aiconform.kube.snapshot import MetricSample, Obj, Scrape, Snapshot, established

__all__ = [
    "CUSTOM_RESOURCES",
    "MAX_SCRAPE_CONCURRENCY",
    "CollectError",
    "collect",
    "dcgm_targets",
    "discover",
    "parse_dcgm_metrics",
    "scrape_exporters",
]

# Custom resources of optional stacks the checks look at, as (plural, group): the CRD is "plural.group" and the
# snapshot key is the same. Kueue Workloads are left out on purpose: there can be one per Job.
CUSTOM_RESOURCES: tuple[tuple[str, str], ...] = (
    ("clusterqueues", "kueue.x-k8s.io"),
    ("localqueues", "kueue.x-k8s.io"),
    ("resourceflavors", "kueue.x-k8s.io"),
    ("gatewayclasses", "gateway.networking.k8s.io"),
    ("gateways", "gateway.networking.k8s.io"),
    ("httproutes", "gateway.networking.k8s.io"),
    ("inferencepools", "inference.networking.k8s.io"),
    ("inferencepools", "inference.networking.x-k8s.io"),
    ("servicemonitors", "monitoring.coreos.com"),
    ("podmonitors", "monitoring.coreos.com"),
    ("prometheuses", "monitoring.coreos.com"),
    ("scaledobjects", "keda.sh"),
    ("nodepools", "karpenter.sh"),
    ("rayclusters", "ray.io"),
    ("network-attachment-definitions", "k8s.cni.cncf.io"),
    ("dynamographdeployments", "nvidia.com"),
    ("podgroups", "scheduling.volcano.sh"),
)

MAX_SCRAPE_CONCURRENCY = 16
DCGM_DEFAULT_PORT = 9400
DEFAULT_USER_AGENT = "aiconform"

T = TypeVar("T")


class CollectError(Exception):
    """The snapshot cannot be collected (API server unreachable, credentials rejected, core read forbidden)."""


@dataclass(frozen=True)
class _Target:
    url: str
    target: str
    node: str | None


def _is_missing(exc: KubeApiError) -> bool:
    # 404: not served; 503: an aggregated API whose backend is down (e.g. metrics.k8s.io) during discovery.
    return exc.status in (404, 503)


async def _guard(what: str, job: Awaitable[T], empty: T, *, optional: bool) -> T:
    """Turn API errors into the failure policy of the module docstring."""
    try:
        return await job
    except KubeApiError as exc:
        if exc.status == 401:
            raise CollectError(f"the API server rejected the credentials (HTTP 401) reading {what}") from exc
        if _is_missing(exc) or (exc.status == 403 and optional):
            return empty
        if exc.status == 403:
            raise CollectError(f"forbidden to read {what} (HTTP 403): grant get/list on it to this user") from exc
        raise CollectError(f"reading {what} failed: {exc}") from exc


async def discover(kube: KubeClient) -> frozenset[str]:
    """Served resources as "group/version/plural" ("v1/pods" for core); CollectError if discovery fails."""
    with _reachable():
        return await _discover(kube)


async def _discover(kube: KubeClient) -> frozenset[str]:
    core = await _guard("/api/v1", kube.get("/api/v1"), None, optional=False)
    groups = await _guard("/apis", kube.get("/apis"), None, optional=False)
    found: set[str] = set()
    for res in (core or {}).get("resources", []):
        if "/" not in res.get("name", ""):
            found.add(f"v1/{res['name']}")
    group_versions: list[str] = []
    for group in (groups or {}).get("groups", []):
        for ver in group.get("versions", []):
            gv = ver.get("groupVersion")
            if gv and gv not in group_versions:
                group_versions.append(gv)

    async def resources_of(gv: str) -> list[str]:
        doc = await _guard(f"/apis/{gv}", kube.get(f"/apis/{gv}"), None, optional=True)
        names = (r.get("name", "") for r in (doc or {}).get("resources", []))
        return [f"{gv}/{n}" for n in names if n and "/" not in n]

    for names in await asyncio.gather(*(resources_of(gv) for gv in group_versions)):
        found.update(names)
    return frozenset(found)


def _crd_version(crd: Obj) -> str | None:
    """The storage version if it is served, else the first served version."""
    versions = [v for v in crd.get("spec", {}).get("versions", []) if v.get("served")]
    storage = next((v for v in versions if v.get("storage")), None)
    chosen = storage or (versions[0] if versions else None)
    return str(chosen["name"]) if chosen else None


async def _list_custom(kube: KubeClient, crds: Sequence[Obj]) -> dict[str, tuple[Obj, ...]]:
    by_name = {c.get("metadata", {}).get("name"): c for c in crds}
    jobs: dict[str, Awaitable[list[dict[str, Any]]]] = {}
    for plural, group in CUSTOM_RESOURCES:
        key = f"{plural}.{group}"
        crd = by_name.get(key)
        if crd is None or not established(crd):
            continue
        version = _crd_version(crd)
        if version is None:
            continue
        jobs[key] = _guard(key, kube.list(f"/apis/{group}/{version}/{plural}"), [], optional=True)
    results = await asyncio.gather(*jobs.values())
    return {key: tuple(items) for key, items in zip(jobs, results, strict=True)}


# ---------------------------------------------------------------------------------------------------------------
# DCGM exporter scrapes


def _is_dcgm_exporter(pod: Obj) -> bool:
    meta = pod.get("metadata", {})
    labels = meta.get("labels") or {}
    if labels.get("app.kubernetes.io/name") == "dcgm-exporter" or labels.get("app") == "nvidia-dcgm-exporter":
        return True
    return any(
        ref.get("kind") == "DaemonSet" and "dcgm-exporter" in ref.get("name", "")
        for ref in meta.get("ownerReferences") or []
    )


def _metrics_port(pod: Obj) -> int:
    for container in pod.get("spec", {}).get("containers", []):
        for port in container.get("ports") or []:
            if port.get("name") == "metrics" and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return DCGM_DEFAULT_PORT


def dcgm_targets(pods: Sequence[Obj]) -> list[tuple[str, str, str | None]]:
    """(url, target, node) of every Running DCGM exporter pod with an IP, in pod order."""
    out: list[tuple[str, str, str | None]] = []
    for pod in pods:
        status = pod.get("status", {})
        ip = status.get("podIP")
        if status.get("phase") != "Running" or not ip or not _is_dcgm_exporter(pod):
            continue
        host = f"[{ip}]" if ":" in ip else ip
        target = f"{host}:{_metrics_port(pod)}/metrics"
        out.append((f"http://{target}", target, pod.get("spec", {}).get("nodeName")))
    return out


def parse_dcgm_metrics(text: str) -> tuple[MetricSample, ...]:
    """DCGM_* samples of a Prometheus text exposition; ValueError if the text does not parse."""
    samples: list[MetricSample] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("DCGM_"):
                samples.append(MetricSample(s.name, dict(s.labels), float(s.value)))
    return tuple(samples)


async def _scrape_one(http: aiohttp.ClientSession, sem: asyncio.Semaphore, target: _Target) -> Scrape:
    async with sem:
        try:
            async with http.get(target.url, allow_redirects=False) as resp:
                status, text = resp.status, (await resp.read()).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Scrape(target.target, target.node, ok=False, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    if status != 200:
        return Scrape(target.target, target.node, ok=False, error=f"HTTP {status}")
    try:
        samples = parse_dcgm_metrics(text)
    except ValueError as exc:
        return Scrape(target.target, target.node, ok=False, error=f"unparsable metrics: {exc}")
    return Scrape(target.target, target.node, ok=True, samples=samples)


async def scrape_exporters(
    pods: Sequence[Obj], timeout: float = 3.0, *, user_agent: str = DEFAULT_USER_AGENT
) -> tuple[Scrape, ...]:
    """Scrape every Running DCGM exporter among `pods` once: at most MAX_SCRAPE_CONCURRENCY at a time, each within
    `timeout` seconds, never retried. Never raises: a failed scrape is a Scrape with ok=False."""
    targets = [_Target(url, target, node) for url, target, node in dcgm_targets(pods)]
    if not targets:
        return ()
    sem = asyncio.Semaphore(MAX_SCRAPE_CONCURRENCY)
    # No retries (aiohttp does none), no redirects (per request), no proxies from the environment.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_SCRAPE_CONCURRENCY),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": user_agent},
        trust_env=False,
    ) as http:
        return tuple(await asyncio.gather(*(_scrape_one(http, sem, t) for t in targets)))


# ---------------------------------------------------------------------------------------------------------------


async def collect(
    kube: KubeClient, *, scrape: bool = True, scrape_timeout: float = 3.0, user_agent: str = DEFAULT_USER_AGENT
) -> Snapshot:
    """Read the cluster once into a Snapshot. Raises CollectError when the API server cannot be used.

    `user_agent` identifies the scraper to the exporters (their access logs)."""
    with _reachable():
        return await _collect(kube, scrape=scrape, scrape_timeout=scrape_timeout, user_agent=user_agent)


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except KubeTransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise CollectError(f"cannot reach the Kubernetes API server: {detail}") from exc


async def _collect(kube: KubeClient, *, scrape: bool, scrape_timeout: float, user_agent: str) -> Snapshot:
    version = await _guard("/version", kube.version(), {}, optional=False)
    api_resources = await _discover(kube)

    def served(gv: str, plural: str) -> bool:
        return f"{gv}/{plural}" in api_resources

    def lister(gv: str, plural: str, *, optional: bool) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
        base = f"/api/{gv}" if gv == "v1" else f"/apis/{gv}"

        async def run() -> list[dict[str, Any]]:
            if not served(gv, plural):
                return []
            return await _guard(f"{gv}/{plural}", kube.list(f"{base}/{plural}"), [], optional=optional)

        return run

    # field name → (group/version, plural, optional)
    plan: Mapping[str, tuple[str, str, bool]] = {
        "namespaces": ("v1", "namespaces", False),
        "nodes": ("v1", "nodes", False),
        "pods": ("v1", "pods", False),
        "services": ("v1", "services", False),
        "crds": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
        "apiservices": ("apiregistration.k8s.io/v1", "apiservices", True),
        "resource_slices": ("resource.k8s.io/v1", "resourceslices", True),
        "device_classes": ("resource.k8s.io/v1", "deviceclasses", True),
        "deployments": ("apps/v1", "deployments", False),
        "daemonsets": ("apps/v1", "daemonsets", False),
        "hpas": ("autoscaling/v2", "horizontalpodautoscalers", True),
        "validating_admission_policies": ("admissionregistration.k8s.io/v1", "validatingadmissionpolicies", True),
        "validating_admission_policy_bindings": (
            "admissionregistration.k8s.io/v1",
            "validatingadmissionpolicybindings",
            True,
        ),
        "validating_webhooks": ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", True),
    }
    fields = list(plan)
    lists = await asyncio.gather(*(lister(gv, pl, optional=opt)() for gv, pl, opt in plan.values()))
    listed: dict[str, tuple[Obj, ...]] = {name: tuple(items) for name, items in zip(fields, lists, strict=True)}

    custom = await _list_custom(kube, listed["crds"])
    scrapes = await scrape_exporters(listed["pods"], scrape_timeout, user_agent=user_agent) if scrape else ()
    git_version = version.get("gitVersion")
    return Snapshot(
        server_version=str(git_version) if git_version else None,
        api_resources=api_resources,
        namespaces=listed["namespaces"],
        nodes=listed["nodes"],
        crds=listed["crds"],
        apiservices=listed["apiservices"],
        resource_slices=listed["resource_slices"],
        device_classes=listed["device_classes"],
        deployments=listed["deployments"],
        daemonsets=listed["daemonsets"],
        pods=listed["pods"],
        services=listed["services"],
        hpas=listed["hpas"],
        validating_admission_policies=listed["validating_admission_policies"],
        validating_admission_policy_bindings=listed["validating_admission_policy_bindings"],
        validating_webhooks=listed["validating_webhooks"],
        custom=custom,
        scrapes=scrapes,
    )
