"""One-shot collection of a Snapshot for `aiconform check`: discovery, LISTs and DCGM exporter scrapes.

The operator fills its Snapshot from watches; this module fills the same structure with one round of
concurrent GETs from the same table (`sources.SOURCES`: the same versions, the same fields kept), so the checks
see the same data either way. It only reads: no object is ever written.

Failure policy:
- The API server unreachable, or credentials rejected (401) → `CollectError` (the caller exits 2).
- A resource the cluster does not serve (404, or absent from discovery) → empty.
- A required source (nodes, pods, CRDs, ...) forbidden or failing → `CollectError` naming it: silently empty
  nodes would turn into wrong verdicts.
- Any other source forbidden (403) or failing → empty, and recorded with why in `Snapshot.unreadable`.
- A scrape that fails is recorded as `Scrape(ok=False, error=...)`; scrapes are bounded in concurrency and time
  and never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError
from aiconform.kube.snapshot import MetricSample, Obj, Scrape, Snapshot, established
from aiconform.kube.sources import CUSTOM, SOURCES, Watched, fixed_paths, forbidden, list_failed, stack_paths, trim

__all__ = [
    "MAX_SCRAPE_CONCURRENCY",
    "CollectError",
    "collect",
    "dcgm_targets",
    "discover",
    "parse_dcgm_metrics",
    "scrape_exporters",
]

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


async def _read(kube: KubeClient, w: Watched, path: str) -> tuple[tuple[Obj, ...], str | None]:
    """The objects of one source, trimmed as the operator's view trims them, and why it could not be read."""
    try:
        items = await kube.list(path)
    except KubeApiError as exc:
        if exc.status == 401:
            raise CollectError(f"the API server rejected the credentials (HTTP 401) reading {w.key}") from exc
        if _is_missing(exc):
            return (), None
        why = forbidden(w, str(exc)) if exc.status == 403 else list_failed(str(exc))
        if w.required and exc.status == 403:
            gv = f"{w.group}/{w.version}" if w.group else w.version
            raise CollectError(f"forbidden to read {gv}/{w.plural} (HTTP 403): grant list on it to this user") from exc
        if w.required:
            raise CollectError(f"reading {w.key} failed: {exc}") from exc
        return (), why
    return tuple(trim(item, w.trim) for item in items), None


async def _read_all(
    kube: KubeClient, table: Sequence[Watched], paths: dict[str, str]
) -> dict[str, tuple[tuple[Obj, ...], str | None]]:
    jobs = [(w, paths[w.key]) for w in table if w.key in paths]
    results = await asyncio.gather(*(_read(kube, w, path) for w, path in jobs))
    return {w.key: result for (w, _), result in zip(jobs, results, strict=True)}


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
    # Kinds only the operator writes (field None) are not the checks' business.
    builtin = [w for w in SOURCES if w.field is not None and w.field != CUSTOM]
    stacks = [w for w in SOURCES if w.field == CUSTOM]
    read = await _read_all(kube, builtin, fixed_paths(builtin, api_resources))
    fields = {w.field: read.get(w.key, ((), None))[0] for w in builtin if w.field is not None}
    # Optional stacks at their CRD's preferred served version, as the operator's informers read them.
    read |= await _read_all(kube, stacks, stack_paths(stacks, fields["crds"]))
    # Present once its CRD is Established, as in the view; absent: not installed.
    installed = {str((c.get("metadata") or {}).get("name")) for c in fields["crds"] if established(c)}
    custom = {w.key: read.get(w.key, ((), None))[0] for w in stacks if w.key in installed}
    unreadable = {key: why for key, (_, why) in read.items() if why is not None}
    scrapes = await scrape_exporters(fields["pods"], scrape_timeout, user_agent=user_agent) if scrape else ()
    git_version = version.get("gitVersion")
    return Snapshot(
        server_version=str(git_version) if git_version else None,
        api_resources=api_resources,
        custom=custom,
        scrapes=scrapes,
        unreadable=unreadable,
        **fields,
    )
