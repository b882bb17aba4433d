"""Continuous evaluation: watches feed the ClusterView; one daemon per profile re-evaluates it whenever something
it reads changes (debounced) and on the profile's interval, and writes status only when it changed.

This is the single writer of profile status. Watches are our own (informer.py, no LIST polling); kopf watches
only the profiles. The API is otherwise called for discovery (when CRDs change), the managed objects' writes,
the status patch, and DCGM exporter scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from aiconform.api.constants import CONDITION_CONFORMANT, CONDITION_READY, GROUP, PLURAL, VERSION
from aiconform.api.models import ProfileSpec, ValidationError, validate_profile
from aiconform.conformance import catalog
from aiconform.conformance.evaluate import Evaluation, evaluate
from aiconform.conformance.verdict import condition_status as verdict_condition
from aiconform.kube import collect
from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.kube.informer import Informers, backoff, builtin_sources, custom_sources
from aiconform.kube.snapshot import Snapshot
from aiconform.kube.sources import FIXED, STACKS, Watched
from aiconform.kube.view import ClusterView
from aiconform.operator import gcpause, metrics, reconciler
from aiconform.operator.conditions import flips, utc_now
from aiconform.operator.reconciler import reconcile_components
from aiconform.operator.status import (
    SpecError,
    SpecFacts,
    build_status,
    condition_status,
    format_validation_errors,
    status_patch,
)

DEBOUNCE = 0.2  # seconds: coalesce a burst of watch events into one evaluation
SCRAPE_EVERY = 5.0  # seconds: DCGM exporters are scraped at most this often
SCRAPE_TIMEOUT = 3.0
_WARN_WHEN_FALSE = {CONDITION_READY, CONDITION_CONFORMANT}
_METRIC_VALUE = {"True": 1.0, "False": 0.0, "Unknown": -1.0}

VIEW = ClusterView()


@dataclass
class _Runtime:
    connection: kopf.ConnectionInfo | None = None
    last_written: dict[str, dict[str, Any]] = field(default_factory=dict)  # by profile uid
    last_scrape: float = 0.0
    discovery_generation: int = -1  # crd_changes when discovery last ran
    crd_changes: int = 0
    profiles: set[str] = field(default_factory=set)  # uids with a running daemon
    listing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one initial-listing wait for all daemons
    informers: Informers | None = None  # started at login (start_watching), else by the first daemon
    watching: asyncio.Task[None] | None = None
    last_evaluation: str | None = None
    # Requests in flight per pass. The bench's floor (the API server's own limit here) uses 64; at 32 the first
    # pass at 1,000 namespaces took 2.6x the floor with the operator's loop 70% idle, waiting on the server.
    api_concurrency: int = 64
    # Kept-alive clients by purpose (see `kept_client`), with the login they were made with.
    clients: dict[str, tuple[kopf.ConnectionInfo | None, KubeClient]] = field(default_factory=dict)
    retired: set[asyncio.Task[None]] = field(default_factory=set)


runtime = _Runtime()


def client() -> KubeClient:
    info = runtime.connection
    if info is None or info.server is None:
        raise RuntimeError("not logged in")
    return KubeClient(
        server=info.server,
        ssl_context=info.as_ssl_context(),
        headers=info.as_http_headers(),
        concurrency=runtime.api_concurrency,
        user_agent="aiconform-operator",
    )


RETIRE_AFTER = 65.0  # seconds: a replaced client's requests in flight finish (their timeout is 60 s) before it closes


def kept_client(purpose: str) -> KubeClient:
    """The operator's client for `purpose`, kept across passes: a pool of open connections. A client per pass
    paid a TLS handshake per connection (up to 64) every pass, and one per fast repair. Repairs have their own
    ("repair"), so that one never queues behind a pass's writes. Rebuilt when the login changes (credentials
    rotate: kopf logs in again); the old one closes once its requests in flight are done."""
    held = runtime.clients.get(purpose)
    if held is None or held[0] is not runtime.connection:
        fresh = (runtime.connection, client())  # client() raises when not logged in
        if held is not None:
            task = asyncio.create_task(_close_later(held[1], RETIRE_AFTER), name=f"retire {purpose} client")
            runtime.retired.add(task)
            task.add_done_callback(runtime.retired.discard)
        runtime.clients[purpose] = held = fresh
    return held[1]


async def _close_later(kube: KubeClient, delay: float) -> None:
    await asyncio.sleep(delay)
    await kube.close()


async def close_clients() -> None:
    held = [kube for _, kube in runtime.clients.values()]
    runtime.clients.clear()
    for task in list(runtime.retired):
        task.cancel()
    for kube in held:
        await kube.close()


# --- watches ------------------------------------------------------------------------------------------------


def _on_change(watched: Watched) -> None:
    if watched.field != "crds":
        return
    runtime.crd_changes += 1  # served resources may have changed: rediscover before evaluating
    if runtime.informers is not None:  # an optional stack's CRD came or went: watch its resources, or stop
        crds = VIEW.objects(watched.key)
        runtime.informers.sync(custom_sources(STACKS, crds), only=[w.key for w in STACKS])


async def refresh_discovery(logger: kopf.Logger) -> None:
    """/version and the served resources; rerun only when CRDs changed since the last time."""
    if runtime.discovery_generation == runtime.crd_changes and VIEW.server_version:
        return
    marker = runtime.crd_changes
    try:
        kube = kept_client("pass")
        version = await kube.version()
        VIEW.server_version = version.get("gitVersion")
        VIEW.api_resources = await collect.discover(kube)
        runtime.discovery_generation = marker
    except (KubeApiError, collect.CollectError, OSError, RuntimeError) as exc:
        logger.warning("Discovery failed, retrying at the next evaluation: %s", exc)


async def refresh_scrapes(logger: kopf.Logger) -> None:
    if time.monotonic() - runtime.last_scrape < SCRAPE_EVERY:
        return
    runtime.last_scrape = time.monotonic()
    scrapes = await collect.scrape_exporters(VIEW.objects("pods"), SCRAPE_TIMEOUT)
    if scrapes != VIEW.scrapes:
        VIEW.scrapes = scrapes
        logger.debug("DCGM scrapes changed: %d targets", len(scrapes))


# --- one evaluation -----------------------------------------------------------------------------------------


def read_profile(body: kopf.Body) -> ProfileSpec | SpecError:
    # Validated here too, not only by the CRD: a CRD from an older release, or a spec written before a rule
    # existed, must give a clear InvalidSpec rather than a crash.
    doc = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": body.metadata.name},
        "spec": body.get("spec"),
    }
    try:
        return validate_profile(doc).spec
    except ValidationError as exc:
        return SpecError(format_validation_errors(exc.errors()))


def decide(
    body: kopf.Body,
    old: dict[str, Any],
    now: str,
    components: dict[str, Any] | None = None,
    snapshot: Snapshot | None = None,
) -> tuple[dict[str, Any], Evaluation | None]:
    """Pure given the snapshot (VIEW's, taken now, when none is passed): the status this profile should have."""
    spec = read_profile(body)
    generation = int(body.metadata.get("generation") or 0)
    if isinstance(spec, SpecError):
        return build_status(old, spec, None, generation, now), None
    facts = SpecFacts(spec.kubernetes_version, spec.mode, float(spec.evaluation_interval_seconds))
    resolution = catalog.resolve_version(spec.kubernetes_version, VIEW.server_version)
    evaluation = None
    if resolution.ok and resolution.version is not None:
        evaluation = evaluate(snapshot or VIEW.snapshot(), spec, resolution.version)
    return build_status(old, facts, resolution, generation, now, evaluation, components), evaluation


async def evaluate_once(body: kopf.Body, logger: kopf.Logger) -> None:
    started = time.monotonic()
    uid = str(body.metadata.uid)
    name = body.metadata.name or ""
    try:
        await ensure_listed(logger)
        await refresh_discovery(logger)
        await refresh_scrapes(logger)
        components = await _reconcile_components(body, logger)
        # Our own last write is newer than the daemon's live body until the watch delivers it back.
        old = runtime.last_written.get(uid) or dict(body.get("status") or {})
        # The checks take seconds at scale: in a thread, on a snapshot taken here (the loop mutates the view).
        # kopf updates the daemon's body in place: the thread gets a copy.
        frozen = kopf.Body(cast(kopf.RawBody, copy.deepcopy(dict(body))))
        new, evaluation = await asyncio.to_thread(
            gcpause.uninterrupted, decide, frozen, old, utc_now(), components, VIEW.snapshot()
        )
        diff = status_patch(old, new)
        if diff:
            await kept_client("pass").request(
                "PATCH",
                f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}/status",
                body={"status": diff},
                content_type="application/merge-patch+json",
            )
            runtime.last_written[uid] = {**old, **new}
            _post_flips(body, old, new)
            logger.info("Status updated: %s", _summary_line(new))
        _publish_metrics(name, new, evaluation)
    except Exception:
        metrics.RECONCILE_ERRORS.inc()
        logger.exception("Evaluation failed; retrying at the next change or interval")
    finally:
        metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        runtime.last_evaluation = utc_now()
        gcpause.settle()  # a pass leaves thousands of new long-lived manifests and view entries behind


async def _reconcile_components(body: kopf.Body, logger: kopf.Logger) -> dict[str, Any] | None:
    spec = read_profile(body)
    if isinstance(spec, SpecError) or body.metadata.get("deletionTimestamp"):
        return None
    existing = VIEW.managed(body.metadata.name or "")
    if spec.mode == "Audit":
        return await reconcile_components(body, spec, VIEW.snapshot(), existing, None, logger)
    return await reconcile_components(body, spec, VIEW.snapshot(), existing, kept_client("pass"), logger)


def _post_flips(body: kopf.Body, old: dict[str, Any], new: dict[str, Any]) -> None:
    by_type = {c["type"]: c for c in new.get("conditions", [])}
    for type_, before, after in flips(old.get("conditions"), new.get("conditions")):
        cond = by_type[type_]
        message = f"{type_} {before or 'unset'} -> {after}: {cond['message']}"[:1000]
        if after == "False" and (type_ in _WARN_WHEN_FALSE or before is not None):
            kopf.warn(body, reason=cond["reason"], message=message)
        else:
            kopf.info(body, reason=cond["reason"], message=message)


def _publish_metrics(name: str, status: dict[str, Any], evaluation: Evaluation | None) -> None:
    metrics.PROFILE_READY.labels(name).set(1 if condition_status(status, CONDITION_READY) == "True" else 0)
    if evaluation is None:
        metrics.set_requirements(name, {})
        return
    levels = {r.id: r.level for r in catalog.requirements_for(evaluation.version)}
    metrics.set_requirements(
        name, {(v.requirement, levels[v.requirement]): _METRIC_VALUE[verdict_condition(v)] for v in evaluation.verdicts}
    )


def _summary_line(status: dict[str, Any]) -> str:
    s = status.get("summary", {})
    return f"conformant={s.get('conformant')} MUST {s.get('mustMet')} SHOULD {s.get('shouldMet')}"


def interval_of(body: kopf.Body) -> float:
    spec = body.get("spec") or {}
    try:
        return max(10.0, float(spec.get("evaluationIntervalSeconds", 60)))
    except (TypeError, ValueError):
        return 60.0


async def run_daemon(body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
    """Evaluate now, then again on any watched change (debounced) or when the interval has passed."""
    runtime.profiles.add(str(body.metadata.uid))
    await ensure_listed(logger)
    repairer = asyncio.create_task(repair_deletions(body, stopped, logger))
    try:
        await _evaluate_until_stopped(body, stopped, logger)
    finally:
        repairer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await repairer


async def repair_deletions(body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
    """Alongside the daemon's passes: put our deleted objects back at once (reconciler.repair_deleted)."""
    name = body.metadata.name or ""
    while not stopped:
        VIEW.deleted_event(name).clear()
        deleted = VIEW.take_deleted(name)
        if deleted and read_profile_mode(body) == "Enforce":
            try:
                await reconciler.repair_deleted(body, kept_client("repair"), deleted, logger)
            except Exception:  # the full pass repairs it anyway; this path must never die
                logger.exception("Fast drift repair failed; the next pass repairs")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(VIEW.deleted_event(name).wait(), timeout=1.0)


def read_profile_mode(body: kopf.Body) -> str | None:
    spec = read_profile(body)
    return spec.mode if isinstance(spec, ProfileSpec) else None


async def _evaluate_until_stopped(body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
    while not stopped:
        since = VIEW.generation
        generation = body.metadata.get("generation")
        await evaluate_once(body, logger)
        deadline = time.monotonic() + interval_of(body)
        while not stopped and time.monotonic() < deadline:
            # The daemon's body is kopf's live view: a spec edit shows up as a new generation.
            changed = await VIEW.wait_changed(since, timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            if changed or body.metadata.get("generation") != generation:
                await asyncio.sleep(DEBOUNCE)
                break


async def ensure_listed(logger: kopf.Logger) -> None:
    """No pass before the view holds everything that existed when each watch started (informer.py)."""
    async with runtime.listing:
        if runtime.informers is None:
            for attempt in itertools.count():
                await refresh_discovery(logger)  # which built-in resources this server serves
                if VIEW.api_resources:
                    break
                await asyncio.sleep(backoff(attempt))
            informers = Informers(VIEW, client, _on_change)
            informers.sync(builtin_sources(FIXED, VIEW.api_resources))
            runtime.informers = informers
            started = time.monotonic()
            await informers.wait_listed()
            logger.info(
                "Initial listing complete: %d resources, %d objects in %.1f s",
                len(informers.keys()),
                VIEW.size(),
                time.monotonic() - started,
            )
            gcpause.settle()  # the view is the bulk of what stays: keep later collections from walking it
        else:  # an optional stack's resources started being watched since the last pass
            await runtime.informers.wait_listed()


def start_watching(logger: kopf.Logger) -> None:
    """Fill the view from start-up (at login), so that the first profile's first pass need not wait for it."""
    if runtime.watching is None:
        runtime.watching = asyncio.create_task(_listed_or_log(logger), name="initial listing")


async def _listed_or_log(logger: kopf.Logger) -> None:
    try:
        await ensure_listed(logger)
    except Exception:  # the first daemon tries again
        logger.exception("Starting the watches failed")


async def stop_watching() -> None:
    if runtime.watching is not None:
        runtime.watching.cancel()
        runtime.watching = None
    if runtime.informers is not None:
        await runtime.informers.close()
        runtime.informers = None
    await close_clients()


async def cleanup(body: kopf.Body, logger: kopf.Logger) -> None:
    spec = read_profile(body)
    # An unreadable spec gets the choice that loses nothing: leave the objects in place.
    policy = spec.deletion_policy if isinstance(spec, ProfileSpec) else "Orphan"
    await ensure_listed(logger)  # a half-listed view would leave some of our objects behind
    existing = VIEW.managed(body.metadata.name or "")
    errors = await reconciler.cleanup(body, policy, existing, VIEW.snapshot(), kept_client("pass"), logger)
    if errors:
        raise kopf.TemporaryError(f"cleanup incomplete: {'; '.join(errors[:3])}", delay=10)
    forget(str(body.metadata.uid))


def reset() -> None:
    """Forget everything learned from watches (kopf restarts in-process after a crash; it re-lists)."""
    global VIEW, runtime
    connection, concurrency = runtime.connection, runtime.api_concurrency
    VIEW = ClusterView()
    runtime = _Runtime(connection=connection, api_concurrency=concurrency)


def forget(uid: str) -> None:
    reconciler.forget(uid)
    runtime.last_written.pop(uid, None)
    runtime.profiles.discard(uid)
