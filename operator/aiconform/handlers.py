"""The thin kopf layer: login, settings, probes, and one level-based reconcile for ConformanceProfiles.

Every trigger (resume, create, spec update, timer) calls the same `reconcile`, which recomputes the whole
status from the object and the cluster and writes it only when it differs. kopf's progress bookkeeping is
therefore irrelevant: we keep kopf's default storages (annotations). `reconcile` never raises, so kopf's
progress annotations are purged right after each handling; what stays is the `last-handled-configuration`
annotation kopf needs to diff spec updates, which Argo CD does not diff (it is not in the Git manifest).
Storing progress in status instead would need a `status.kopf` field in the CRD schema (the API server prunes
unknown fields) and would mix kopf's bookkeeping into the status users and Argo CD read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import kopf
import pydantic

from aiconform import catalog, metrics
from aiconform.conditions import flips, utc_now
from aiconform.constants import (
    CONDITION_CONFORMANT,
    CONDITION_READY,
    FINALIZER,
    GROUP,
    MANAGED_BY_VALUE,
    PLURAL,
    VERSION,
)
from aiconform.kubeconfig import KubeconfigError, load_connection_info, resolve_paths
from aiconform.models import validate_profile
from aiconform.status import (
    SpecError,
    SpecFacts,
    build_status,
    condition_status,
    format_validation_errors,
    status_patch,
)

# The timer ticks often; each profile is re-evaluated when its spec.evaluationIntervalSeconds has passed.
TIMER_TICK = 10.0
TIMER_ID = "reconcile-timer"
INVALID_SPEC_INTERVAL = 60.0  # an invalid spec has no interval; re-check at the default one
API_TIMEOUT = 10.0  # seconds for our own GET /version and /readyz
READY_MAX_BACKOFF = 5.0  # seconds between /readyz attempts at most: start soon once the server is up
_WARN_WHEN_FALSE = {CONDITION_READY, CONDITION_CONFORMANT}


class RetryForever:
    """Backoffs for kopf's API requests that never run out: kopf escalates the last failure of a finite
    list and the operator exits, while an operator started before (or cut off from) its API server should
    wait for it. Re-iterable and unsized on purpose: kopf iterates it anew for every request."""

    def __iter__(self) -> Iterator[float]:
        yield from (1, 1, 2, 3, 5, 8, 13, 21)
        yield from itertools.repeat(30.0)


@dataclasses.dataclass
class Options:
    """Set by the runner from the command line before kopf starts."""

    kubeconfig: str | None = None
    context: str | None = None
    max_workers: int = 4


@dataclasses.dataclass
class _State:
    connection: kopf.ConnectionInfo | None = None  # cached at login, reused for GET /version
    cluster_version: str | None = None
    last_reconcile: str | None = None
    profiles: set[str] = dataclasses.field(default_factory=set)
    evaluated_at: dict[str, float] = dataclasses.field(default_factory=dict)  # monotonic, per profile
    locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)


options = Options()
_state = _State()


def configure(kubeconfig: str | None, context: str | None = None) -> None:
    options.kubeconfig = kubeconfig
    options.context = context


# --- operator-level activities ------------------------------------------------------------------------------


@kopf.on.login(id="aiconform-login")
async def login(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> kopf.ConnectionInfo | None:
    paths = resolve_paths(options.kubeconfig)
    info: kopf.ConnectionInfo | None
    if paths:
        try:
            info = load_connection_info(paths, options.context, trust_env=settings.networking.trust_env)
        except KubeconfigError as exc:
            raise kopf.PermanentError(str(exc)) from None
        logger.info("Logging in to %s with kubeconfig %s", info.server, ", ".join(map(str, paths)))
    else:
        info = kopf.login_with_service_account(settings=settings)
        if info is not None:
            logger.info("Logging in to %s with the pod's service account", info.server)
    if info is not None:
        await wait_until_ready(info, logger)
    _state.connection = info
    return info


async def wait_until_ready(info: kopf.ConnectionInfo, logger: kopf.Logger) -> None:
    """Hold the login until the API server is ready; every kopf API call waits for the login meanwhile.

    kopf lists the served resources once at start and afterwards learns only of CRD *changes*: a server
    that is still starting answers that listing without the CRDs it has not registered yet, and our
    profiles would then never be watched. The liveness endpoint keeps answering while we wait.
    """
    for attempt in itertools.count(1):
        problem = await _readiness_problem(info)
        if problem is None:
            return
        delay = min(attempt, READY_MAX_BACKOFF)
        logger.error("API server %s is not ready (%s); retrying in %.0fs", info.server, problem, delay)
        await asyncio.sleep(delay)


async def _readiness_problem(info: kopf.ConnectionInfo) -> str | None:
    """Why GET /readyz says the server is not ready, or None (ready, or not allowed to tell: go ahead)."""
    try:
        async with _client(info) as client:
            response = await client.get("/readyz")
    except (httpx.HTTPError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if response.status_code in (200, 401, 403):
        return None
    return f"/readyz answered HTTP {response.status_code}"


def _client(info: kopf.ConnectionInfo) -> httpx.AsyncClient:
    """An HTTP client with the login's server and credentials (never logged; trust_env off: no proxies)."""
    return httpx.AsyncClient(
        base_url=info.server,
        verify=info.as_ssl_context(),
        headers=info.as_http_headers(),
        timeout=API_TIMEOUT,
        trust_env=False,
    )


@kopf.on.startup(id="aiconform-settings")
def configure_settings(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Events: only our explicit kopf.info/warn calls (one per condition flip), not every log line.
    settings.posting.enabled = True
    settings.posting.loggers = False
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = MANAGED_BY_VALUE
    settings.posting.event_name_prefix = f"{MANAGED_BY_VALUE}-"
    settings.execution.max_workers = options.max_workers
    # kopf puts a finalizer on every object that has a timer (to stop it before the object goes); name it
    # ours. It is removed on deletion while the operator runs: delete profiles before uninstalling it.
    settings.persistence.finalizer = FINALIZER
    # Long-polling watches that the server ends first; the client timeout only catches dead connections.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.networking.error_backoffs = RetryForever()


@kopf.on.probe(id="reconciler")
def probe(**_: Any) -> dict[str, Any]:
    """Facts for /healthz: what the operator knows, not only that the loop is alive."""
    return {
        "profiles": len(_state.profiles),
        "lastReconcile": _state.last_reconcile,
        "clusterVersion": _state.cluster_version,
        "checklists": catalog.known_versions(),
    }


# --- the reconcile ------------------------------------------------------------------------------------------


async def fetch_cluster_version(info: kopf.ConnectionInfo | None, logger: kopf.Logger) -> str | None:
    """GET /version with the login's credentials; None (logged) when the cluster cannot say."""
    if info is None:
        return None
    try:
        async with _client(info) as client:
            response = await client.get("/version")
            response.raise_for_status()
            git_version = response.json().get("gitVersion")
    except (httpx.HTTPError, ValueError, OSError) as exc:
        logger.warning("Cannot read the cluster version from %s/version: %s", info.server, exc)
        return None
    _state.cluster_version = str(git_version) if git_version else None
    return _state.cluster_version


def read_spec(body: kopf.Body) -> SpecFacts | SpecError:
    # Validated here too, not only by the CRD schema: a CRD installed from an older release, or a spec
    # written before a rule existed, must still yield a clear InvalidSpec instead of a crash.
    doc = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": body.metadata.name},
        "spec": body.get("spec"),
    }
    try:
        spec = validate_profile(doc).spec
    except pydantic.ValidationError as exc:
        return SpecError(format_validation_errors(exc.errors()))
    return SpecFacts(spec.kubernetes_version, spec.mode, float(spec.evaluation_interval_seconds))


def _post_flips(body: kopf.Body, old: dict[str, Any], new: dict[str, Any]) -> None:
    by_type = {c["type"]: c for c in new.get("conditions", [])}
    for type_, before, after in flips(old.get("conditions"), new.get("conditions")):
        cond = by_type[type_]
        message = f"{type_} {before or 'unset'} -> {after}: {cond['message']}"
        if after == "False" and type_ in _WARN_WHEN_FALSE:
            kopf.warn(body, reason=cond["reason"], message=message)
        else:
            kopf.info(body, reason=cond["reason"], message=message)


def _publish_metrics(name: str, status: dict[str, Any]) -> None:
    metrics.PROFILE_READY.labels(name).set(1 if condition_status(status, CONDITION_READY) == "True" else 0)
    version = status.get("summary", {}).get("kubernetesVersion")
    # Nothing is checked yet: every requirement of the evaluated checklist is "unknown" (-1).
    reqs = catalog.requirements_for(version) if version else []
    metrics.set_requirements(name, {(r.id, r.level): -1 for r in reqs})


async def _reconcile(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger) -> None:
    spec = read_spec(body)
    resolution = None
    if isinstance(spec, SpecFacts):
        git_version = None
        if spec.kubernetes_version == catalog.AUTO:
            git_version = await fetch_cluster_version(_state.connection, logger)
            if git_version is None:
                metrics.RECONCILE_ERRORS.inc()
        resolution = catalog.resolve_version(spec.kubernetes_version, git_version)

    old = dict(body.get("status") or {})
    new = build_status(old, spec, resolution, int(body.metadata.get("generation") or 0), utc_now())
    diff = status_patch(old, new)
    if diff:
        patch.status.update(diff)
        _post_flips(body, old, new)
        logger.info("Status updated: %s", _ready_line(new))
    else:
        logger.debug("Status unchanged")
    _publish_metrics(body.metadata.name or "", new)


def _ready_line(status: dict[str, Any]) -> str:
    for cond in status.get("conditions", []):
        if cond["type"] == CONDITION_READY:
            return f"Ready={cond['status']} ({cond['reason']}): {cond['message']}"
    return "no Ready condition"


def _due(body: kopf.Body) -> bool:
    """For the timer: has the profile's evaluation interval passed since its last reconcile?"""
    spec = read_spec(body)
    interval = spec.evaluation_interval if isinstance(spec, SpecFacts) else INVALID_SPEC_INTERVAL
    last = _state.evaluated_at.get(body.metadata.name or "")
    return last is None or time.monotonic() - last >= interval - TIMER_TICK / 2


async def reconcile(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, *, periodic: bool = False) -> None:
    """Recompute the profile's status from scratch; never raises (the timer is the retry)."""
    name = body.metadata.name or ""
    lock = _state.locks.setdefault(name, asyncio.Lock())
    # Timers run concurrently with the event handlers of the same object; one reconcile at a time per profile.
    async with lock:
        if periodic and not _due(body):
            return
        started = time.monotonic()
        try:
            await _reconcile(body, patch, logger)
        except Exception:
            metrics.RECONCILE_ERRORS.inc()
            logger.exception("Reconcile failed; the timer retries it")
        finally:
            metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
            _state.profiles.add(name)
            _state.evaluated_at[name] = time.monotonic()
            _state.last_reconcile = utc_now()


_RESOURCE = (GROUP, VERSION, PLURAL)


@kopf.on.resume(*_RESOURCE, id="reconcile-resume")
async def on_resume(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(body, patch, logger)


@kopf.on.create(*_RESOURCE, id="reconcile-create")
async def on_create(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(body, patch, logger)


@kopf.on.update(*_RESOURCE, field="spec", id="reconcile-update")
async def on_update(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(body, patch, logger)


@kopf.timer(*_RESOURCE, interval=TIMER_TICK, initial_delay=TIMER_TICK, id=TIMER_ID)
async def on_timer(body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(body, patch, logger, periodic=True)


@kopf.on.delete(*_RESOURCE, optional=True, id="forget")
def on_delete(body: kopf.Body, **_: Any) -> None:
    # optional=True: no finalizer; this only drops our in-memory state and metric series.
    forget(body.metadata.name or "")


def forget(name: str) -> None:
    _state.profiles.discard(name)
    _state.locks.pop(name, None)
    _state.evaluated_at.pop(name, None)
    metrics.forget_profile(name)
