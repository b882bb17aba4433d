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
  and never retried. An error that starts with "HTTP " or "unparsable" is the exporter's own answer; any other
  never reached it (connection refused, timeout, or the API server's proxy refusing: forbidden, pod gone,
  address not allowed), which the checks must not read as a failed exporter.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError
from aiconform.kube.kubeconfig import LoginError
from aiconform.kube.snapshot import MetricSample, Obj, Scrape, Snapshot, established
from aiconform.kube.sources import CUSTOM, SOURCES, Watched, fixed_paths, forbidden, list_failed, stack_paths, trim

__all__ = [
    "MAX_SCRAPE_CONCURRENCY",
    "SCRAPE_MODES",
    "CollectError",
    "ExporterTarget",
    "ScrapeMode",
    "api_server_refusal",
    "collect",
    "dcgm_targets",
    "discover",
    "parse_dcgm_metrics",
    "pod_proxy_path",
    "proxy_error",
    "scrape_exporters",
]

MAX_SCRAPE_CONCURRENCY = 16
DCGM_DEFAULT_PORT = 9400
DEFAULT_USER_AGENT = "aiconform"
# How exporters are reached: "direct" to the pod IP (needs the pod network: in-cluster), "proxy" through the API
# server's pod proxy (needs get on pods/proxy: from a laptop).
ScrapeMode = Literal["direct", "proxy"]
SCRAPE_MODES: tuple[ScrapeMode, ...] = ("direct", "proxy")

T = TypeVar("T")


class CollectError(Exception):
    """The snapshot cannot be collected (API server unreachable, credentials rejected, core read forbidden)."""


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


def pod_proxy_path(namespace: str, name: str, port: int, path: str = "metrics") -> str:
    """The API server's proxy to one pod's port, as `kubectl get --raw` addresses it (authorized as `get` on
    `pods/proxy` in `namespace`)."""
    ns, pod = urllib.parse.quote(namespace, safe=""), urllib.parse.quote(name, safe="")
    return f"/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}"


@dataclass(frozen=True)
class ExporterTarget:
    """One exporter pod to scrape. `target` ("podIP:port/metrics") is what Scrape.target records whichever way it
    is reached: the checks match scrapes to pods by pod IP."""

    url: str  # direct: http://podIP:port/metrics
    proxy_path: str  # through the API server: /api/v1/namespaces/<ns>/pods/<name>:<port>/proxy/metrics
    target: str
    node: str | None
    namespace: str


def dcgm_targets(pods: Sequence[Obj]) -> list[ExporterTarget]:
    """Every Running DCGM exporter pod with an IP, in pod order."""
    out: list[ExporterTarget] = []
    for pod in pods:
        status, meta = pod.get("status", {}), pod.get("metadata", {})
        ip = status.get("podIP")
        if status.get("phase") != "Running" or not ip or not _is_dcgm_exporter(pod):
            continue
        host, port = f"[{ip}]" if ":" in ip else ip, _metrics_port(pod)
        namespace = str(meta.get("namespace") or "default")
        target = f"{host}:{port}/metrics"
        proxy = pod_proxy_path(namespace, str(meta.get("name", "")), port)
        out.append(ExporterTarget(f"http://{target}", proxy, target, pod.get("spec", {}).get("nodeName"), namespace))
    return out


def parse_dcgm_metrics(text: str) -> tuple[MetricSample, ...]:
    """DCGM_* samples of a Prometheus text exposition; ValueError if the text does not parse."""
    samples: list[MetricSample] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("DCGM_"):
                samples.append(MetricSample(s.name, dict(s.labels), float(s.value)))
    return tuple(samples)


def _answered(target: ExporterTarget, status: int, text: str) -> Scrape:
    """A scrape the exporter itself answered: its HTTP error, or its parsed samples."""
    if status != 200:
        return Scrape(target.target, target.node, ok=False, error=f"HTTP {status}")
    try:
        samples = parse_dcgm_metrics(text)
    except ValueError as exc:
        return Scrape(target.target, target.node, ok=False, error=f"unparsable metrics: {exc}")
    return Scrape(target.target, target.node, ok=True, samples=samples)


async def _scrape_one(http: aiohttp.ClientSession, sem: asyncio.Semaphore, target: ExporterTarget) -> Scrape:
    async with sem:
        try:
            async with http.get(target.url, allow_redirects=False) as resp:
                status, text = resp.status, (await resp.read()).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Scrape(target.target, target.node, ok=False, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    return _answered(target, status, text)


def api_server_refusal(body: bytes) -> tuple[int, str] | None:
    """(code, message) when a proxied answer is the API server's own error (a `Status`: forbidden, pod gone,
    address not allowed, backend unreachable), None when the backend (the exporter) wrote it."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "Status" or doc.get("apiVersion") != "v1":
        return None
    code = doc.get("code")
    return (code if isinstance(code, int) else 0), str(doc.get("message") or doc.get("reason") or "no message")


def proxy_error(target: ExporterTarget, code: int, message: str) -> str:
    """The error of a scrape the API server refused to proxy. Never starts with "HTTP ": that is an exporter's
    own answer (a failed exporter), and this one never reached the exporter."""
    if code == 403:  # its message is long and names the user; the missing permission is what to act on
        return f"API server proxy (HTTP 403): forbidden, grant get on pods/proxy in namespace {target.namespace}"
    hint = "; it proxies only to global unicast pod IPs" if "address not allowed" in message else ""
    return f"API server proxy (HTTP {code}): {message}{hint}"


async def _scrape_via_api(
    kube: KubeClient, sem: asyncio.Semaphore, target: ExporterTarget, timeout: float, user_agent: str
) -> Scrape:
    def failed(error: str) -> Scrape:
        return Scrape(target.target, target.node, ok=False, error=error)

    async with sem:
        try:
            async with asyncio.timeout(timeout):
                status, body = await kube.get_raw(target.proxy_path, headers={"User-Agent": user_agent})
        except TimeoutError:
            return failed(f"no answer through the API server's pod proxy within {timeout:g}s")
        except (KubeTransportError, LoginError) as exc:
            return failed(f"API server: {exc}")
    refusal = api_server_refusal(body) if status != 200 else None
    if refusal is not None:
        return failed(proxy_error(target, *refusal))
    return _answered(target, status, body.decode(errors="replace"))


async def scrape_exporters(
    pods: Sequence[Obj],
    timeout: float = 3.0,
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    via: KubeClient | None = None,
) -> tuple[Scrape, ...]:
    """Scrape every Running DCGM exporter among `pods` once: at most MAX_SCRAPE_CONCURRENCY at a time, each within
    `timeout` seconds, never retried. Never raises: a failed scrape is a Scrape with ok=False.

    Direct (`via=None`, the operator in its cluster): `http://<podIP>:<port>/metrics`, which needs the pod
    network. Through the API server (`via=` a client, `aiconform check` from a laptop): its pod proxy, as kubectl
    does, which needs `get` on `pods/proxy` and a pod IP the API server will proxy to."""
    targets = dcgm_targets(pods)
    if not targets:
        return ()
    sem = asyncio.Semaphore(MAX_SCRAPE_CONCURRENCY)
    if via is not None:
        return tuple(await asyncio.gather(*(_scrape_via_api(via, sem, t, timeout, user_agent) for t in targets)))
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
    kube: KubeClient,
    *,
    scrape: bool = True,
    scrape_timeout: float = 3.0,
    user_agent: str = DEFAULT_USER_AGENT,
    scrape_mode: ScrapeMode = "direct",
) -> Snapshot:
    """Read the cluster once into a Snapshot. Raises CollectError when the API server cannot be used.

    `user_agent` identifies the scraper to the exporters (their access logs); `scrape_mode` says how they are
    reached (see scrape_exporters)."""
    if scrape_mode not in SCRAPE_MODES:
        raise ValueError(f"scrape_mode must be one of {', '.join(SCRAPE_MODES)}, not {scrape_mode!r}")
    with _reachable():
        return await _collect(
            kube, scrape=scrape, scrape_timeout=scrape_timeout, user_agent=user_agent, scrape_mode=scrape_mode
        )


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except KubeTransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise CollectError(f"cannot reach the Kubernetes API server: {detail}") from exc


async def _collect(
    kube: KubeClient, *, scrape: bool, scrape_timeout: float, user_agent: str, scrape_mode: ScrapeMode
) -> Snapshot:
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
    via = kube if scrape_mode == "proxy" else None
    scrapes = await scrape_exporters(fields["pods"], scrape_timeout, user_agent=user_agent, via=via) if scrape else ()
    git_version = version.get("gitVersion")
    return Snapshot(
        server_version=str(git_version) if git_version else None,
        api_resources=api_resources,
        custom=custom,
        scrapes=scrapes,
        unreadable=unreadable,
        **fields,
    )
