"""The operator object and its per-profile loop: watches feed the ClusterView; one daemon per profile re-evaluates
it whenever something it reads changes (debounced) and on the profile's interval, and writes status only when it
changed.

Everything the operator learns lives in one `Operator` (kept in kopf's memo): the view, the informers, the clients,
discovery and the per-profile state. A kopf restart builds a new one; deleting a profile is one removal; the clock
and the client factory are injectable, so a pass runs in a unit test without a cluster.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from aiconform.api.constants import CONDITION_CONFORMANT, CONDITION_READY, GROUP, PLURAL, VERSION
from aiconform.api.models import ProfileSpec, ValidationError, validate_profile
from aiconform.components import COMPONENTS, tenant_local
from aiconform.conformance import catalog
from aiconform.conformance.evaluate import Evaluation, evaluate
from aiconform.conformance.probemerge import merge_evaluation
from aiconform.conformance.verdict import Verdict
from aiconform.conformance.verdict import condition_status as verdict_condition
from aiconform.kube import collect
from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.kube.informer import Informers, backoff, builtin_sources, custom_sources
from aiconform.kube.kubeconfig import KopfLogin
from aiconform.kube.snapshot import Snapshot
from aiconform.kube.sources import FIXED, SCRAPES, STACKS, Watched
from aiconform.kube.view import ClusterView
from aiconform.operator import gcpause, metrics, reconciler
from aiconform.operator.conditions import flips, set_condition, utc_now
from aiconform.operator.incremental import FULL, Scope, scope_of
from aiconform.operator.reconciler import ProfileMemory, reconcile_components
from aiconform.operator.status import (
    SpecError,
    SpecFacts,
    build_status,
    condition_status,
    format_validation_errors,
    status_patch,
    with_heartbeat,
)
from aiconform.probes import run_probes

DEBOUNCE = 0.2  # seconds: coalesce a burst of watch events into one evaluation
SCRAPE_EVERY = 5.0  # seconds: DCGM exporters are scraped at most this often
SCRAPE_TIMEOUT = 3.0
RETIRE_AFTER = 65.0  # seconds: a replaced client's requests in flight finish (their timeout is 60 s) before it closes
CLEANUP_BACKOFF_MAX = 60.0  # seconds between cleanup attempts at most
_WARN_WHEN_FALSE = {CONDITION_READY, CONDITION_CONFORMANT}
_METRIC_VALUE = {"True": 1.0, "False": 0.0, "Unknown": -1.0}

ClientFactory = Callable[[kopf.ConnectionInfo, int], KubeClient]


def connection_client(info: kopf.ConnectionInfo, concurrency: int) -> KubeClient:
    if info.server is None:
        raise RuntimeError("not logged in")
    if isinstance(info, KopfLogin) and info.auth is not None:  # the login's source: refreshed on expiry and 401
        return KubeClient(auth=info.auth, concurrency=concurrency, user_agent="aiconform-operator")
    return KubeClient(
        server=info.server,
        ssl_context=info.as_ssl_context(),
        headers=info.as_http_headers(),
        concurrency=concurrency,
        user_agent="aiconform-operator",
    )


@dataclass
class ProfileState:
    """What the operator keeps for one profile: dropped in one removal when the profile goes."""

    memory: ProfileMemory
    last_written: dict[str, Any] | None = None  # our own last status write (newer than the live body for a while)
    probes: tuple[Verdict, ...] = ()  # the last run of the profile's probes (spec.probes), merged into every pass
    # What the last pass saw: the view's generation (changes after it are the next pass's to redo), the spec's
    # generation, and each check's verdict (reused while nothing the check reads changes).
    since: int | None = None
    spec_generation: int | None = None
    checked: Mapping[str, Verdict] = field(default_factory=dict)
    last_components: dict[str, Any] | None = None  # status.components of the last pass
    poked: asyncio.Event = field(default_factory=asyncio.Event)  # a pass is due for this profile alone (probes)


# --- pure ---------------------------------------------------------------------------------------------------


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


def read_profile_mode(body: kopf.Body) -> str | None:
    spec = read_profile(body)
    return spec.mode if isinstance(spec, ProfileSpec) else None


def decide(
    body: kopf.Body,
    old: dict[str, Any],
    now: str,
    snapshot: Snapshot,
    components: dict[str, Any] | None = None,
    probes: Sequence[Verdict] = (),
    reuse: Mapping[str, Verdict] | None = None,
) -> tuple[dict[str, Any], Evaluation | None]:
    """Pure: the status this profile should have, given the snapshot (its server version included) and the
    last probe verdicts (merged over the checks': conformance/probemerge). `reuse`: check verdicts still true of
    this snapshot (nothing their checks read changed since)."""
    spec = read_profile(body)
    generation = int(body.metadata.get("generation") or 0)
    if isinstance(spec, SpecError):
        return build_status(old, spec, None, generation, now), None
    facts = SpecFacts(spec.kubernetes_version, spec.mode, float(spec.evaluation_interval_seconds))
    resolution = catalog.resolve_version(spec.kubernetes_version, snapshot.server_version)
    evaluation = None
    if resolution.ok and resolution.version is not None:
        evaluation = merge_evaluation(evaluate(snapshot, spec, resolution.version, reuse), probes)
    return build_status(old, facts, resolution, generation, now, evaluation, components, probes), evaluation


def interval_of(body: kopf.Body) -> float:
    spec = body.get("spec") or {}
    try:
        return max(10.0, float(spec.get("evaluationIntervalSeconds", 60)))
    except (TypeError, ValueError):
        return 60.0


def _summary_line(status: dict[str, Any]) -> str:
    s = status.get("summary", {})
    return f"conformant={s.get('conformant')} MUST {s.get('mustMet')} SHOULD {s.get('shouldMet')}"


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
    metrics.LAST_EVALUATION.labels(name).set_to_current_time()
    if evaluation is None:
        metrics.set_requirements(name, {})
        return
    levels = {r.id: r.level for r in catalog.requirements_for(evaluation.version)}
    metrics.set_requirements(
        name, {(v.requirement, levels[v.requirement]): _METRIC_VALUE[verdict_condition(v)] for v in evaluation.verdicts}
    )


def _status_path(name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}/status"


# --- the operator -------------------------------------------------------------------------------------------


class Operator:
    """The running operator's whole state. One per kopf run (kept in its memo); never a module global."""

    def __init__(
        self,
        *,
        api_concurrency: int = 64,
        clock: Callable[[], float] = time.monotonic,
        client_factory: ClientFactory = connection_client,
    ) -> None:
        self.view = ClusterView()
        self.collector = gcpause.Collector(clock=clock)  # the garbage collector's policy (operator/gcpause.py)
        self.connection: kopf.ConnectionInfo | None = None
        # Requests in flight per pass. The bench's floor (the API server's own limit here) uses 64; at 32 the first
        # pass at 1,000 namespaces took 2.6x the floor with the operator's loop 70% idle, waiting on the server.
        self.api_concurrency = api_concurrency
        self.clock = clock
        self.client_factory = client_factory
        self.profiles: dict[str, ProfileState] = {}  # by profile uid
        self.running: set[str] = set()  # uids with a running daemon
        self.last_scrape = -SCRAPE_EVERY
        self.discovery_generation = -1  # crd_changes when discovery last ran
        self.crd_changes = 0
        self.listing = asyncio.Lock()  # one initial-listing wait for all daemons
        self.informers: Informers | None = None  # started at login (start_watching), else by the first daemon
        self.watching: asyncio.Task[None] | None = None
        self.last_evaluation: str | None = None
        # Kept-alive clients by purpose (see `kept_client`), with the login they were made with.
        self.clients: dict[str, tuple[kopf.ConnectionInfo | None, KubeClient]] = {}
        self.retired: dict[asyncio.Task[None], KubeClient] = {}  # clients of an old login, closing later

    # --- per-profile state ----------------------------------------------------------------------------------

    def state(self, uid: str) -> ProfileState:
        held = self.profiles.get(uid)
        if held is None:
            held = self.profiles[uid] = ProfileState(ProfileMemory(clock=self.clock))
        return held

    def forget(self, uid: str) -> None:
        self.profiles.pop(uid, None)
        self.running.discard(uid)

    # --- clients --------------------------------------------------------------------------------------------

    def client(self) -> KubeClient:
        if self.connection is None:
            raise RuntimeError("not logged in")
        return self.client_factory(self.connection, self.api_concurrency)

    def kept_client(self, purpose: str) -> KubeClient:
        """The operator's client for `purpose`, kept across passes: a pool of open connections. A client per pass
        paid a TLS handshake per connection (up to 64) every pass, and one per fast repair. Repairs have their own
        ("repair"), so that one never queues behind a pass's writes. Rebuilt when the login changes (credentials
        rotate: kopf logs in again); the old one closes once its requests in flight are done."""
        held = self.clients.get(purpose)
        if held is None or held[0] is not self.connection:
            fresh = (self.connection, self.client())  # client() raises when not logged in
            if held is not None:
                task = asyncio.create_task(_close_later(held[1], RETIRE_AFTER), name=f"retire {purpose} client")
                self.retired[task] = held[1]
                task.add_done_callback(lambda t: self.retired.pop(t, None))
            self.clients[purpose] = held = fresh
        return held[1]

    async def close_clients(self) -> None:
        held = [kube for _, kube in self.clients.values()]
        self.clients.clear()
        for task, kube in list(self.retired.items()):  # stopping now: close them at once (no unclosed sessions)
            task.cancel()
            held.append(kube)
        self.retired.clear()
        for kube in held:
            await kube.close()

    # --- watches and discovery ------------------------------------------------------------------------------

    def _on_change(self, watched: Watched) -> None:
        if watched.field != "crds":
            return
        self.crd_changes += 1  # served resources may have changed: rediscover before evaluating
        if self.informers is not None:  # an optional stack's CRD came or went: watch its resources, or stop
            crds = self.view.objects(watched.key)
            self.informers.sync(custom_sources(STACKS, crds), only=[w.key for w in STACKS])

    async def refresh_discovery(self, logger: kopf.Logger) -> None:
        """/version and the served resources; rerun only when CRDs changed since the last time."""
        if self.discovery_generation == self.crd_changes and self.view.server_version:
            return
        marker = self.crd_changes
        try:
            kube = self.kept_client("pass")
            version = await kube.version()
            server_version, api_resources = version.get("gitVersion"), await collect.discover(kube)
            if (server_version, api_resources) != (self.view.server_version, self.view.api_resources):
                self.view.server_version, self.view.api_resources = server_version, api_resources
                self.view.touch()  # what is served decides what checks and components do: every pass redoes all
            self.discovery_generation = marker
        except (KubeApiError, collect.CollectError, OSError, RuntimeError) as exc:
            logger.warning("Discovery failed, retrying at the next evaluation: %s", exc)

    async def refresh_scrapes(self, logger: kopf.Logger) -> None:
        if self.clock() - self.last_scrape < SCRAPE_EVERY:
            return
        self.last_scrape = self.clock()
        scrapes = await collect.scrape_exporters(self.view.objects("pods"), SCRAPE_TIMEOUT)
        if scrapes != self.view.scrapes:
            self.view.scrapes = scrapes
            self.view.touch(SCRAPES)
            logger.debug("DCGM scrapes changed: %d targets", len(scrapes))

    async def ensure_listed(self, logger: kopf.Logger) -> None:
        """No pass before the view holds everything that existed when each watch started (informer.py)."""
        async with self.listing:
            if self.informers is None:
                for attempt in itertools.count():
                    await self.refresh_discovery(logger)  # which built-in resources this server serves
                    if self.view.api_resources:
                        break
                    await asyncio.sleep(backoff(attempt))
                informers = Informers(self.view, self.client, self._on_change)
                informers.sync(builtin_sources(FIXED, self.view.api_resources))
                self.informers = informers
                started = time.monotonic()
                await informers.wait_listed()
                logger.info(
                    "Initial listing complete: %d resources, %d objects in %.1f s",
                    len(informers.keys()),
                    self.view.size(),
                    time.monotonic() - started,
                )
                self.collector.settle()  # the view is the bulk of what stays: keep later collections from walking it
            else:  # an optional stack's resources started being watched since the last pass
                await self.informers.wait_listed()

    def start_watching(self, logger: kopf.Logger) -> None:
        """Fill the view from start-up (at login), so that the first profile's first pass need not wait for it."""
        if self.watching is None:
            self.watching = asyncio.create_task(self._listed_or_log(logger), name="initial listing")

    async def _listed_or_log(self, logger: kopf.Logger) -> None:
        try:
            await self.ensure_listed(logger)
        except Exception:  # the first daemon tries again
            logger.exception("Starting the watches failed")

    async def stop_watching(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
            self.watching = None
        if self.informers is not None:
            await self.informers.close()
            self.informers = None
        await self.close_clients()

    # --- one pass -------------------------------------------------------------------------------------------

    async def evaluate_once(self, body: kopf.Body, logger: kopf.Logger, full: bool = True) -> None:
        started = time.monotonic()
        try:
            await self.ensure_listed(logger)
            await self.refresh_discovery(logger)
            await self.refresh_scrapes(logger)
            await self.run_pass(body, logger, full=full)
        except Exception:
            metrics.RECONCILE_ERRORS.inc()
            self.state(str(body.metadata.uid)).spec_generation = None  # the next pass redoes everything
            logger.exception("Evaluation failed; retrying at the next change or interval")
        finally:
            metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
            self.last_evaluation = utc_now()
            self.collector.settle()  # a pass leaves thousands of new long-lived manifests and view entries behind

    def scope(self, body: kopf.Body, state: ProfileState, full: bool = False) -> Scope:
        """What a pass for this profile must redo now (operator/incremental.py): everything when asked, on the
        first pass, after a spec change, or when the change log cannot tell."""
        spec = read_profile(body)
        generation = body.metadata.get("generation")
        if full or state.since is None or isinstance(spec, SpecError) or generation != state.spec_generation:
            return FULL
        changes = self.view.changes_since(state.since)
        return scope_of(changes, body.metadata.name or "", COMPONENTS, lambda c: tenant_local(spec, c))

    async def run_pass(self, body: kopf.Body, logger: kopf.Logger, full: bool = True) -> dict[str, Any]:
        """One pass on the view as it is: render, decide, apply, evaluate, and write the status if it changed.
        Unless `full`, only what reads a change since the profile's last pass is redone. Returns the status the
        profile should have. Needs no listing: unit tests run it on a filled view."""
        name = body.metadata.name or ""
        state = self.state(str(body.metadata.uid))
        scope = self.scope(body, state, full)
        state.since, state.spec_generation = self.view.generation, body.metadata.get("generation")
        metrics.PASSES.labels("full" if scope.full else "partial").inc()
        logger.debug("Pass: %s", scope.describe())
        components = await self._reconcile_components(body, state, logger, scope)
        # Our own last write is newer than the daemon's live body until the watch delivers it back.
        old = state.last_written or dict(body.get("status") or {})
        # The checks take seconds at scale: in a thread, on a snapshot taken here (the loop mutates the view).
        # kopf updates the daemon's body in place: the thread gets a copy.
        frozen = kopf.Body(cast(kopf.RawBody, copy.deepcopy(dict(body))))
        now = utc_now()
        reuse = {} if scope.full else {k: v for k, v in state.checked.items() if k not in scope.checks}
        snapshot = self.view.snapshot()
        new, evaluation = await asyncio.to_thread(
            self.collector.uninterrupted, decide, frozen, old, now, snapshot, components, state.probes, reuse
        )
        state.checked = evaluation.checked if evaluation is not None else {}
        if evaluation is not None:
            metrics.CHECKS_RUN.inc(len(evaluation.checked) - len(reuse.keys() & evaluation.checked.keys()))
        new = with_heartbeat(old, new, now)
        diff = status_patch(old, new)
        if diff:
            await self.kept_client("pass").request(
                "PATCH", _status_path(name), body={"status": diff}, content_type="application/merge-patch+json"
            )
            state.last_written = {**old, **new}
            _post_flips(body, old, new)
            logger.info("Status updated: %s", _summary_line(new))
        _publish_metrics(name, new, evaluation)
        return new

    async def _reconcile_components(
        self, body: kopf.Body, state: ProfileState, logger: kopf.Logger, scope: Scope = FULL
    ) -> dict[str, Any] | None:
        spec = read_profile(body)
        if isinstance(spec, SpecError) or body.metadata.get("deletionTimestamp"):
            return None
        redo = None if scope.full else scope.components
        if redo is not None and not redo and state.last_components is not None:
            return state.last_components  # nothing any component reads changed
        owned = self.view.managed(body.metadata.name or "", str(body.metadata.uid), redo)
        kube = None if spec.mode == "Audit" else self.kept_client("pass")
        try:
            status = await reconcile_components(
                body, spec, self.view.snapshot(), owned, kube, logger, state.memory, redo, self.collector
            )
        except Exception as exc:  # the checks and the status write still happen; the components say what broke
            logger.exception("Reconciling the components failed")
            state.spec_generation = None  # what the components keep may be half updated: redo it all next time
            message = f"pass failed: {exc}"[:4000]
            return {c: {"state": "Degraded", "message": message, "managed": 0} for c in COMPONENTS}
        state.last_components = status
        return status

    # --- the daemon -----------------------------------------------------------------------------------------

    async def run_daemon(self, body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
        """Evaluate now, then again on any watched change (debounced) or when the interval has passed."""
        self.running.add(str(body.metadata.uid))
        await self.ensure_listed(logger)
        repairer = asyncio.create_task(self.repair_deletions(body, stopped, logger))
        prober = asyncio.create_task(self.probe_periodically(body, stopped, logger))
        try:
            await self._evaluate_until_stopped(body, stopped, logger)
        finally:
            for task in (repairer, prober):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def probe_periodically(self, body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
        """Alongside the daemon's passes: run the profile's probes (spec.probes.run) every intervalSeconds and
        keep their verdicts for the passes to merge. Opt-in, and never in Audit mode (a probe writes)."""
        state = self.state(str(body.metadata.uid))
        while not stopped:
            spec = read_profile(body)
            generation = body.metadata.get("generation")
            wait = 10.0
            if isinstance(spec, ProfileSpec) and spec.probes.run and spec.mode == "Enforce":
                # A probe taken off the list stops counting now, not when the new list has run (minutes).
                listed = tuple(v for v in state.probes if v.requirement in spec.probes.run)
                if listed != state.probes:
                    state.probes = listed
                    state.poked.set()
                await self.ensure_listed(logger)
                try:
                    verdicts = await run_probes(self.kept_client("probes"), spec, self.view.snapshot())
                except Exception:  # a probe must never take the daemon down; the next interval tries again
                    logger.exception("Probes failed; retrying at the next interval")
                    verdicts = []
                for verdict in verdicts:
                    logger.info("Probe %s: %s (%s)", verdict.requirement, verdict.status, verdict.reason)
                state.probes = tuple(verdicts)
                state.poked.set()  # this profile's next pass merges them now rather than at the next change
                wait = float(spec.probes.interval_seconds)
            elif state.probes:
                state.probes = ()
                state.poked.set()
            deadline = self.clock() + wait
            # A spec edit (e.g. probes turned on) is seen within a second; a stop at once.
            while not stopped and self.clock() < deadline and body.metadata.get("generation") == generation:
                await stopped.wait(1.0)

    async def repair_deletions(self, body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
        """Alongside the daemon's passes: put our deleted objects back at once (reconciler.repair_deleted)."""
        name = body.metadata.name or ""
        memory = self.state(str(body.metadata.uid)).memory
        while not stopped:
            self.view.deleted_event(name).clear()
            deleted = self.view.take_deleted(name)
            if deleted and read_profile_mode(body) == "Enforce":
                try:
                    await reconciler.repair_deleted(body, self.kept_client("repair"), deleted, logger, memory)
                except Exception:  # the full pass repairs it anyway; this path must never die
                    logger.exception("Fast drift repair failed; the next pass repairs")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.view.deleted_event(name).wait(), timeout=1.0)

    async def _evaluate_until_stopped(self, body: kopf.Body, stopped: kopf.DaemonStopped, logger: kopf.Logger) -> None:
        """A full pass now and then at least every interval, busy or not (the safety net); in between, a pass
        that redoes only what reads what changed, and none for a change nothing of this profile reads."""
        state = self.state(str(body.metadata.uid))
        full_at = self.clock()  # when the next full pass is due
        while not stopped:
            generation = body.metadata.get("generation")
            state.poked.clear()
            full = self.clock() >= full_at
            if full:
                full_at = self.clock() + interval_of(body)
            await self.evaluate_once(body, logger, full=full)
            while not stopped and self.clock() < full_at:
                # The daemon's body is kopf's live view: a spec edit shows up as a new generation.
                wait = min(1.0, max(0.0, full_at - self.clock()))
                since = self.view.generation if state.since is None else state.since
                changed = await self.view.wait_changed(since, timeout=wait)
                if body.metadata.get("generation") != generation or state.poked.is_set():
                    await asyncio.sleep(DEBOUNCE)  # a new spec generation makes the pass full by itself (scope)
                    break
                if changed:
                    await asyncio.sleep(DEBOUNCE)
                    if self.scope(body, state).idle:  # nothing this profile reads: no pass
                        state.since = self.view.generation
                        metrics.PASSES.labels("skipped").inc()
                        continue
                    break

    # --- deletion -------------------------------------------------------------------------------------------

    async def cleanup(self, body: kopf.Body, logger: kopf.Logger, retry: int = 0) -> None:
        spec = read_profile(body)
        # An unreadable spec gets the choice that loses nothing: leave the objects in place.
        policy = spec.deletion_policy if isinstance(spec, ProfileSpec) else "Orphan"
        await self.ensure_listed(logger)  # a half-listed view would leave some of our objects behind
        uid = str(body.metadata.uid)
        owned = self.view.managed(body.metadata.name or "", uid)
        memory = self.state(uid).memory
        kube = self.kept_client("pass")
        errors = await reconciler.cleanup(body, policy, owned, self.view.snapshot(), kube, logger, memory)
        if errors:
            delay = min(CLEANUP_BACKOFF_MAX, 2.0 * 2**retry)
            message = f"deletion blocked: {'; '.join(errors[:3])}; retrying in {delay:.0f}s"
            await self._report_cleanup_blocked(body, message, logger)
            raise kopf.TemporaryError(message, delay=delay)
        self.forget(uid)

    async def _report_cleanup_blocked(self, body: kopf.Body, message: str, logger: kopf.Logger) -> None:
        """Say on the profile why it does not go away: Ready=False, reason CleanupBlocked, and an Event."""
        old = dict(body.get("status") or {})
        generation = int(body.metadata.get("generation") or 0)
        conditions = set_condition(
            old.get("conditions"), CONDITION_READY, "False", "CleanupBlocked", message, generation, utc_now()
        )
        kopf.warn(body, reason="CleanupBlocked", message=message[:1000])
        try:
            await self.kept_client("pass").request(
                "PATCH",
                _status_path(body.metadata.name or ""),
                body={"status": {"conditions": conditions}},
                content_type="application/merge-patch+json",
            )
        except Exception as exc:  # the Event and the log still tell
            logger.warning("Could not write the cleanup condition: %s", exc)


async def _close_later(kube: KubeClient, delay: float) -> None:
    await asyncio.sleep(delay)
    await kube.close()
