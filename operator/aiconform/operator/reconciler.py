"""Keep the AI stack the profile asks for in place: plan the components (pure, components/), decide actions
against what we already manage (pure, applier.decide), then apply them — or, in Audit mode, only report them.

Runs inside the profile's daemon (evaluator.py), so drift shows up as a watch event on one of our objects,
wakes the daemon and is repaired in the next pass. Returns `status.components`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from aiconform.api.models import ProfileSpec
from aiconform.components import (
    COMPONENTS,
    EMPTY_PLAN,
    LABEL_COMPONENT,
    TENANT_LOCAL,
    Blocked,
    Local,
    Plan,
    ProfileRef,
    Provided,
    enabled,
    tenant_local,
)
from aiconform.kube.client import KubeClient
from aiconform.kube.kinds import ident_of as kinds_ident
from aiconform.kube.kinds import partition_of
from aiconform.kube.packing import Packed, pack
from aiconform.kube.snapshot import Obj, Snapshot, within
from aiconform.kube.view import Decoding, Owned
from aiconform.operator import applier, gcpause, metrics
from aiconform.operator.applier import Action, Conflict, Key, describe, key_of, label_manager

FOREIGN_RECHECK = 60.0  # seconds before a name clash is tried again (the user may have removed their object)
RUNAWAY_WINDOW = 60.0
RUNAWAY_LIMIT = 5  # updates of one object within the window: something fights us or we never converge


Parts = frozenset[str] | None  # partitions (kinds.partition_of) a pass redoes for a component; None: all of it
RENDERING = "\x00rendering"  # the partition a component's rendering failure is kept under


@dataclass
class Ledger:
    """What one component's status is made of, by partition (a namespace, "" for the rest), kept between passes:
    a pass that re-renders a few namespaces replaces their part and still says the whole."""

    managed: dict[str, int] = field(default_factory=dict)  # objects desired and present
    pending: dict[str, list[Action]] = field(default_factory=dict)  # actions not done (only non-empty parts)
    conflicts: dict[str, list[Conflict]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # the notes of its last whole rendering, but the Local ones
    local: dict[str, tuple[str, ...]] = field(default_factory=dict)  # Local notes by namespace
    patched: set[str] = field(default_factory=set)  # namespaces it puts labels on (field patches)

    def replace(self, parts: Parts) -> None:
        """Forget `parts` (None: everything) before recording them anew."""
        if parts is None:
            self.managed, self.pending, self.conflicts, self.errors, self.local = {}, {}, {}, {}, {}
            self.patched = set()
            return
        for book in (self.managed, self.pending, self.conflicts, self.errors, self.local):
            for part in parts:
                book.pop(part, None)
        self.errors.pop(RENDERING, None)
        self.patched -= parts

    def all_notes(self) -> tuple[str, ...]:
        return (*self.notes, *(n for part in sorted(self.local) for n in self.local[part]))


class Desired(Mapping[Key, tuple[str, Packed]]):
    """The fast repair path's manifests: key → (component, manifest packed), held by component and partition so
    a pass replaces the parts it redoes without walking the rest (25,000 manifests at 5,000 namespaces)."""

    def __init__(self, kept: Mapping[Key, tuple[str, Packed]] | None = None) -> None:
        self._by: dict[str, dict[str, dict[Key, Packed]]] = {}
        self.update(kept or {})

    def update(self, kept: Mapping[Key, tuple[str, Packed]]) -> None:
        for key, (component, packed) in kept.items():
            self._by.setdefault(component, {}).setdefault(partition_of(key), {})[key] = packed

    def forget(self, component: str, parts: Parts) -> None:
        """Drop a component's manifests in `parts` (None: all of them)."""
        if parts is None:
            self._by.pop(component, None)
            return
        mine = self._by.get(component, {})
        for part in parts:
            mine.pop(part, None)

    def __getitem__(self, key: Key) -> tuple[str, Packed]:
        part = partition_of(key)
        for component, parts in self._by.items():
            packed = parts.get(part, {}).get(key)
            if packed is not None:
                return component, packed
        raise KeyError(key)

    def __iter__(self) -> Iterator[Key]:
        return (key for parts in self._by.values() for objs in parts.values() for key in objs)

    def __len__(self) -> int:
        return sum(len(objs) for parts in self._by.values() for objs in parts.values())


@dataclass
class ProfileMemory:
    """What one profile's passes remember between passes. Held by the operator object per profile (dropped with
    the profile, rebuilt with the operator); the clock is injectable for tests."""

    clock: Callable[[], float] = time.monotonic
    foreign: dict[Key, tuple[str, float]] = field(default_factory=dict)  # key → why, when (a name clash)
    seen: set[Key] = field(default_factory=set)  # keys that existed once: re-creating them is a repair
    updates: dict[Key, list[float]] = field(default_factory=dict)  # when we last updated each object
    # key → (component, manifest packed) of the last Enforce pass: what a deleted object is re-created as.
    # Packed (kube/packing.py): 7,000 manifests hold 29 MB as rendered, 14 MB compacted, 5 MB as JSON and well
    # under 1 MB packed, and unpacking the few that get deleted costs microseconds.
    desired: Desired = field(default_factory=lambda: Desired())
    reported: set[str] = field(default_factory=set)  # failures already posted as Events
    ledgers: dict[str, Ledger] = field(default_factory=dict)  # by component: the parts of its status

    def known_foreign(self) -> dict[Key, str]:
        now = self.clock()
        for key in [k for k, (_, when) in self.foreign.items() if now - when > FOREIGN_RECHECK]:
            del self.foreign[key]
        return {k: why for k, (why, _) in self.foreign.items()}

    def runaway(self, action: Action) -> bool:
        if action.op != "update":
            return False
        now = self.clock()
        recent = [t for t in self.updates.get(action.key, []) if now - t < RUNAWAY_WINDOW]
        self.updates[action.key] = recent
        return len(recent) >= RUNAWAY_LIMIT


def _namespaces_with_our_labels(snapshot: Snapshot, manager: str) -> dict[str, Obj]:
    """Namespaces where this profile's label manager owns labels (from managedFields, kept for namespaces)."""
    out: dict[str, Obj] = {}
    for ns in snapshot.namespaces:
        for entry in (ns.get("metadata") or {}).get("managedFields") or []:
            fields = (entry.get("fieldsV1") or {}).get("f:metadata", {}).get("f:labels")
            if entry.get("manager") == manager and entry.get("operation") == "Apply" and fields:
                out[ns["metadata"]["name"]] = ns
    return out


def _unlabel_actions(
    snapshot: Snapshot, wanted: set[str], profile: str, only: frozenset[str] | None = None
) -> list[Action]:
    """Release this profile's labels on namespaces no longer selected: an empty configuration under its manager.
    `only`: look at these namespaces alone (a pass that redoes a few)."""
    manager = label_manager(profile)
    if only is not None:
        snapshot = within(snapshot, only)
    return [
        Action(
            "label",
            "seccomp",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            field_manager=manager,
        )
        for name in sorted(set(_namespaces_with_our_labels(snapshot, manager)) - wanted)
    ]


def _state(
    component: str,
    enabled: bool,
    audit: bool,
    managed: int,
    pending: list[Action],
    conflicts: list[Conflict],
    errors: list[str],
    notes: tuple[str, ...],
) -> dict[str, Any]:
    """A component's status. With nothing in the way and nothing pending: `Blocked` when a note of its plan says
    a prerequisite is missing (components.Blocked), `Provided` when the platform provides (part of) it
    and aiconform verified that (components.Provided), else `Ready` (`InSync` in Audit mode)."""
    parts: list[str] = []
    if conflicts:
        state = "Conflict"
        parts.append("; ".join(c.message() for c in conflicts[:5]))
    elif errors:
        state = "Degraded"
        parts.append("; ".join(errors[:3]))
    elif not enabled:
        state = "Disabled" if not pending else ("Drifted" if audit else "Progressing")
    elif pending:
        state = "Drifted" if audit else "Progressing"
    elif any(isinstance(n, Blocked) for n in notes):
        state = "Blocked"
    elif any(isinstance(n, Provided) for n in notes):
        state = "Provided"
    else:
        state = "InSync" if audit else "Ready"
    if pending:
        verb = "would" if audit else "will"
        summary = applier.audit_summary(pending)
        parts.append("; ".join(f"{verb} {op}: {', '.join(names)}" for op, names in sorted(summary.items())))
    parts.extend(notes)
    return {
        "state": state,
        "message": "; ".join(p for p in parts if p)[:4000],
        "managed": managed,
        "conflicts": sorted({describe(c.key) for c in conflicts})[:50],
    }


BATCH = 500  # namespaces a whole pass renders, decides and applies at a time (what it holds at once)


async def reconcile_components(
    body: kopf.Body,
    spec: ProfileSpec,
    snapshot: Snapshot,
    owned: Owned,
    kube: KubeClient | None,
    logger: kopf.Logger,
    memory: ProfileMemory,
    redo: Mapping[str, Parts] | None = None,
    collector: gcpause.Collector | None = None,
) -> dict[str, Any]:
    """One pass. `owned`: this profile's objects (and those another controller adopted), at least those `redo`
    covers; `kube` None means Audit (no writes). `redo`: the components to render, each in some partitions or
    wholly (operator/incremental.py); None: every component wholly. The others keep what their last pass
    found. Never raises for one object or one component: what fails is reported on its component. `collector`:
    the operator's, which keeps automatic collection off while a step renders (None: a fresh one).

    A tenant-local component is rendered, decided and applied in steps: its cluster part, then its namespaces
    in batches of BATCH, so a pass never holds every manifest of a 5,000-namespace stack at once."""
    uid, name = str(body.metadata.uid), body.metadata.name or ""
    collector = collector or gcpause.Collector()
    redo = {c: None for c in COMPONENTS} if redo is None else {c: redo[c] for c in COMPONENTS if c in redo}
    redo = {c: parts if c in memory.ledgers else None for c, parts in redo.items()}  # the first time: wholly
    whole = len(redo) == len(COMPONENTS) and all(parts is None for parts in redo.values())
    label_scope = None if whole else _partitions(redo)
    if label_scope and redo.get("seccomp", frozenset()) is not None:  # releasing labels is seccomp's to report
        redo["seccomp"] = redo.get("seccomp", frozenset()) | label_scope  # type: ignore[operator]
    existing = owned.ours
    for component, parts in redo.items():
        memory.ledgers.setdefault(component, Ledger()).replace(parts)
    # Adopted objects are left alone: never updated, never pruned; a desired one of the same name is a clash.
    foreign = {**memory.known_foreign(), **{k: adopted_reason(o) for k, o in owned.adopted.items()}}
    by_part = _by_partition(existing)
    memory.seen.update(existing)
    # One of ours that no component claims is pruned by a whole pass (its first step).
    unclaimed = (
        {k: existing[k] for c, parts in by_part.items() if c not in COMPONENTS for keys in parts.values() for k in keys}
        if whole
        else {}
    )
    steps = _steps(spec, snapshot, by_part, redo)

    def render(i: int) -> asyncio.Future[Rendered]:
        # Rendering and deciding take seconds at thousands of objects: in a thread, so the event loop keeps taking
        # watch events and the fast repair path meanwhile (both pure; the snapshot is never mutated). The next
        # step renders while this one's writes are in flight: the API server and the operator share two cores.
        # Our objects of this step are unpacked there too (thousands a step): `existing` is never mutated.
        keys = [k for part in _in_step(by_part, steps[i]) for k in part]
        extra = unclaimed if i == 0 else {}

        def plan() -> Rendered:
            deciding = {**{k: existing[k] for k in keys}, **extra}
            return _plan(spec, snapshot, deciding, foreign, uid, name, kube is not None, steps[i])

        return asyncio.ensure_future(asyncio.to_thread(collector.uninterrupted, plan))

    upcoming = render(0)
    try:
        for i, step in enumerate(steps):
            rendered = await upcoming
            if i + 1 < len(steps):
                upcoming = render(i + 1)
            _note(memory, step, rendered)
            if kube is not None:  # Audit keeps no manifests: nothing of ours is put back
                _replace_desired(memory, step, rendered)
            await _carry_out(body, memory, kube, logger, list(rendered.decision.actions), rendered, step)
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upcoming
    wanted_labels = set().union(*(ledger.patched for ledger in memory.ledgers.values()))
    releases = _unlabel_actions(snapshot, wanted_labels, name, label_scope)
    if releases:
        await _carry_out(body, memory, kube, logger, releases, None, {})
    _report_failures(body, memory, logger)
    status: dict[str, Any] = {}
    for component in COMPONENTS:
        ledger = memory.ledgers.get(component, Ledger())
        status[component] = _state(
            component,
            enabled(spec, component),
            kube is None,
            sum(ledger.managed.values()),
            [a for part in sorted(ledger.pending) for a in ledger.pending[part]],
            [c for part in sorted(ledger.conflicts) for c in ledger.conflicts[part]],
            [e for part in sorted(ledger.errors) for e in ledger.errors[part]],
            ledger.all_notes(),
        )
    if all(parts is None for parts in redo.values()) and len(redo) == len(COMPONENTS):
        metrics.set_managed(name, existing)  # the counts of a whole pass (a partial one sees only its parts)
    return status


ByPartition = dict[str, dict[str, list[Key]]]  # component label → partition → keys of our objects


def _by_partition(objects: Decoding) -> ByPartition:
    out: ByPartition = {}
    for key in objects:
        out.setdefault(objects.component(key), {}).setdefault(partition_of(key), []).append(key)
    return out


def _in_step(by_part: ByPartition, step: Mapping[str, Parts]) -> Iterator[list[Key]]:
    for component, parts in step.items():
        mine = by_part.get(component, {})
        if parts is None:
            yield from mine.values()
        else:
            yield from (mine[part] for part in parts if part in mine)


def _steps(
    spec: ProfileSpec,
    snapshot: Snapshot,
    by_part: ByPartition,
    redo: Mapping[str, Parts],
) -> list[dict[str, Parts]]:
    """The pass in steps: first every component that does not split (wholly), the cluster part ("") of those that
    split and the first batch of their namespaces; then the next batches. A tenant-local component rendered
    wholly covers every namespace there is and every partition it has objects in."""
    chunks: dict[str, list[frozenset[str]]] = {}
    first: dict[str, Parts] = {}
    for component, parts in redo.items():
        if parts is None and not tenant_local(spec, component):
            first[component] = None
            continue
        if parts is None:
            names = {str((ns.get("metadata") or {}).get("name") or "") for ns in snapshot.namespaces}
            names |= set(by_part.get(component, {}))
            ordered = ["", *sorted(names - {""})]
        else:
            ordered = sorted(parts)
        chunks[component] = [frozenset(ordered[i : i + BATCH]) for i in range(0, len(ordered), BATCH)] or [frozenset()]
    steps = [dict(first)]
    for component, batches in chunks.items():
        for i, batch in enumerate(batches):
            if i == len(steps):
                steps.append({})
            steps[i][component] = batch
    return steps


def _note(memory: ProfileMemory, step: Mapping[str, Parts], rendered: Rendered) -> None:
    """What a step rendered, in the components' ledgers: notes (the non-local ones with the cluster part),
    Local notes by namespace, the namespaces labelled."""
    for component, parts in step.items():
        if component in rendered.failed:
            continue
        ledger = _book(memory, component)
        if parts is None or "" in parts:
            ledger.notes = tuple(n for n in rendered.notes[component] if not isinstance(n, Local))
        for note in rendered.notes[component]:
            if isinstance(note, Local):
                ledger.local[note.namespace] = (*ledger.local.get(note.namespace, ()), note)
        ledger.patched |= {p["metadata"]["name"] for p in rendered.patches[component]}
    for component, why in rendered.failed.items():
        _book(memory, component).errors.setdefault(RENDERING, []).append(f"rendering failed: {why}")


async def _carry_out(
    body: kopf.Body,
    memory: ProfileMemory,
    kube: KubeClient | None,
    logger: kopf.Logger,
    actions: list[Action],
    rendered: Rendered | None,
    step: Mapping[str, Parts],
) -> None:
    """Do (or, in Audit mode, only note) one step's actions and book what happened in the ledgers."""
    decision = rendered.decision if rendered is not None else None
    conflicts = list(decision.conflicts) if decision is not None else []
    errors: list[tuple[str, str, str]] = []
    done: list[Action] = []
    if kube is not None:
        # Membership by identity: Action equality compares whole manifests, and `a in list` over thousands of
        # actions was quadratic (most of a 7,000-object pass).
        paused = {id(a) for a in actions if memory.runaway(a)}
        runnable = [a for a in actions if id(a) not in paused]
        for stuck in (a for a in actions if id(a) in paused):
            why = f"{describe(stuck.key)} changes back after every update; paused"
            errors.append((stuck.component, partition_of(stuck.key), why))
        outcome = await applier.execute(kube, runnable)
        done = outcome.done
        errors += [(c, partition_of(key), e) for (c, e), key in zip(outcome.errors, outcome.failed, strict=True)]
        now = memory.clock()
        for conflict in outcome.conflicts:
            memory.foreign[conflict.key] = (conflict.reason, now)
            kopf.warn(body, reason="NameConflict", message=conflict.message())
        conflicts += outcome.conflicts
        for action in done:
            _record(body, action, memory, now, logger)
    if decision is not None:
        for conflict in decision.conflicts:
            logger.debug("Still in the way: %s", conflict.message())
        for (component, part), n in decision.managed_in.items():
            _book(memory, component).managed[part] = n
    finished = {id(a) for a in done}
    for action in done:
        if action.op == "create":
            book = _book(memory, action.component).managed
            part = partition_of(action.key)
            book[part] = book.get(part, 0) + 1
    for action in actions:
        if id(action) not in finished:
            _book(memory, action.component).pending.setdefault(partition_of(action.key), []).append(action)
    for conflict in conflicts:
        _book(memory, conflict.component).conflicts.setdefault(partition_of(conflict.key), []).append(conflict)
    for component, part, error in errors:
        _book(memory, component).errors.setdefault(part, []).append(error)


def _book(memory: ProfileMemory, component: str) -> Ledger:
    return memory.ledgers.setdefault(component, Ledger())


def _partitions(redo: Mapping[str, Parts]) -> frozenset[str]:
    return frozenset().union(*(parts for parts in redo.values() if parts is not None))


def _replace_desired(memory: ProfileMemory, step: Mapping[str, Parts], rendered: Rendered) -> None:
    """memory.desired for the fast repair path: the step's parts replaced by what it rendered, in one go (no
    moment in which a deleted object of ours has no manifest to be put back from). A component that failed to
    render keeps its last manifests."""
    for component, parts in step.items():
        if component not in rendered.failed:
            memory.desired.forget(component, parts)
    memory.desired.update(rendered.kept)


def adopted_reason(obj: Obj) -> str:
    return f"was made by aiconform and is now also owned by {applier.owners_text(obj)}"


def _report_failures(body: kopf.Body, memory: ProfileMemory, logger: kopf.Logger) -> None:
    """An Event and a log line per failure when it first appears (not on every pass while it lasts)."""
    now = {
        f"{component}: {error}"
        for component, ledger in memory.ledgers.items()
        for errors in ledger.errors.values()
        for error in errors
    }
    for line in sorted(now - memory.reported):
        logger.warning("Component action failed: %s", line)
        kopf.warn(body, reason="ApplyFailed", message=line[:1000])
    memory.reported = now


@dataclass(frozen=True)
class Rendered:
    notes: dict[str, tuple[str, ...]]  # by component: all its notes (a partial rendering: its Local ones there)
    patches: Mapping[str, tuple[Mapping[str, Any], ...]]  # by component: the field patches rendered
    decision: applier.Decision
    kept: dict[Key, tuple[str, Packed]]  # the manifests for memory.desired (when kept)
    failed: dict[str, str]  # components whose rendering failed, with why


def _plan(
    spec: ProfileSpec,
    snapshot: Snapshot,
    existing: Mapping[Key, Obj],
    foreign: dict[Key, str],
    uid: str,
    name: str,
    keep: bool,
    redo: Mapping[str, Parts],
) -> Rendered:
    """Render and decide (pure) the parts `redo` names: a component wholly, or in some partitions from the
    snapshot as those namespaces see it (`within`; components.TENANT_LOCAL says that gives the same there; the
    cluster part "" from all the cluster-scoped data). `existing`: our objects in those parts. A failed
    component's objects are held out of the decision: nothing of it is pruned because it could not say what it
    wants."""
    plans: dict[str, Plan] = {}
    failed: dict[str, str] = {}
    ref = ProfileRef(name, uid)
    views: dict[tuple[frozenset[str], frozenset[str] | None], Snapshot] = {}
    for component, parts in redo.items():
        seen_from = snapshot if parts is None else _seen_from(snapshot, parts, component, views)
        try:
            plan = COMPONENTS[component](spec, seen_from, ref) if enabled(spec, component) else EMPTY_PLAN
        except Exception as exc:  # a bug or an input no component foresaw: report it, keep the rest going
            failed[component] = f"{type(exc).__name__}: {exc}"
            plan = EMPTY_PLAN
        plans[component] = plan if parts is None else _restrict(plan, parts)

    held = {k: o for k, o in existing.items() if _component_of(o) not in failed}
    objects = {c: p.objects for c, p in plans.items() if c not in failed}
    patches = {c: p.field_patches for c, p in plans.items()}
    targets = {p["metadata"]["name"] for ps in patches.values() for p in ps}
    namespaces = {ns["metadata"]["name"]: ns for ns in snapshot.namespaces if ns["metadata"]["name"] in targets}
    decision = applier.decide(objects, patches, held, foreign, namespaces, name)
    notes = {c: p.notes for c, p in plans.items()}
    return Rendered(notes, patches, decision, encode_desired(objects) if keep else {}, failed)


def _seen_from(
    snapshot: Snapshot,
    parts: frozenset[str],
    component: str,
    views: dict[tuple[frozenset[str], frozenset[str] | None], Snapshot],
) -> Snapshot:
    """The snapshot as `parts` see it, with the cluster-scoped data the component's namespace part reads."""
    reads = TENANT_LOCAL[component].cluster_reads if component in TENANT_LOCAL and "" not in parts else None
    held = views.get((parts, reads))
    if held is None:
        held = views[(parts, reads)] = within(snapshot, parts, reads)
    return held


def _restrict(plan: Plan, parts: frozenset[str]) -> Plan:
    """The part of a plan rendered from `within(snapshot, parts)` that is true of those partitions."""
    return Plan(
        objects=tuple(o for o in plan.objects if partition_of(kinds_ident(o)) in parts),
        field_patches=tuple(p for p in plan.field_patches if partition_of(kinds_ident(p)) in parts),
        # The cluster part ("") carries the notes about no one namespace.
        notes=tuple(n for n in plan.notes if (n.namespace in parts if isinstance(n, Local) else "" in parts)),
        skipped=plan.skipped,
    )


def _component_of(obj: Obj) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT, "unknown"))


def encode_desired(objects: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[Key, tuple[str, Packed]]:
    """Manifests by key, packed (each kind against its first manifest here), with their component (pure)."""
    zdicts: dict[str, bytes] = {}
    return {key_of(o): (c, pack(o, zdicts, str(o.get("kind")))) for c, objs in objects.items() for o in objs}


def _created(done: list[Action], component: str) -> int:
    return sum(1 for a in done if a.component == component and a.op == "create")


def _record(body: kopf.Body, action: Action, memory: ProfileMemory, now: float, logger: kopf.Logger) -> None:
    seen = memory.seen
    what = describe(action.key)
    if action.op == "update" or (action.op == "create" and action.key in seen):
        metrics.DRIFT_REPAIRS.labels(action.key[1]).inc()
        kopf.info(body, reason="DriftRepaired", message=f"Repaired {what}")
        logger.info("Repaired drift: %s", what)
        memory.updates.setdefault(action.key, []).append(now)
    elif action.op == "delete":
        seen.discard(action.key)
        logger.info("Pruned %s", what)
    elif action.op == "create":
        logger.info("Created %s", what)
    else:
        released = not (action.obj.get("metadata") or {}).get("labels")
        logger.info("%s %s", "Released our labels on" if released else "Labelled", what)
    if action.op == "create":
        seen.add(action.key)


def repairs(memory: ProfileMemory, deleted: list[Key]) -> list[Action]:
    """Creates for deleted objects the last pass wanted (pure given `memory`). Anything else deleted, ours
    pruning included, is not in the last desired set and is left to the next full pass."""
    wanted = memory.desired
    out: dict[Key, Action] = {}
    for key in deleted:
        if key in wanted and key not in out:
            component, packed = wanted[key]
            out[key] = Action("create", component, packed.unpack())
    return list(out.values())


async def repair_deleted(
    body: kopf.Body, kube: KubeClient, deleted: list[Key], logger: kopf.Logger, memory: ProfileMemory
) -> None:
    """The fast path for drift: put deleted objects back from the last pass's manifests, without a full
    render (seconds at thousands of objects). The full pass the same deletion wakes then confirms it."""
    actions = repairs(memory, deleted)
    if not actions or body.metadata.get("deletionTimestamp"):
        return
    outcome = await applier.execute(kube, actions)
    now = memory.clock()
    for action in outcome.done:
        metrics.FAST_REPAIRS.labels(action.key[1]).inc()
        memory.seen.add(action.key)  # re-created: a repair, whatever the pass has seen so far
        _record(body, action, memory, now, logger)
    for component, error in outcome.errors:
        logger.debug("Fast repair failed (%s), left to the full pass: %s", component, error)


async def cleanup(
    body: kopf.Body,
    policy: str,
    owned: Owned,
    snapshot: Snapshot,
    kube: KubeClient,
    logger: kopf.Logger,
    memory: ProfileMemory,
) -> list[str]:
    """The profile is going away: delete what it made (Delete) or cut the owner references (Orphan) so the
    garbage collector leaves the objects alone. Our namespace labels are released either way. Objects another
    controller adopted are left alone (logged). Returns what could not be done, for the status and a retry."""
    uid = str(body.metadata.uid)
    memory.desired = Desired()  # from here on a deleted object of ours is not drift
    for key in sorted(owned.adopted):
        logger.info("Left alone on deletion: %s %s", describe(key), adopted_reason(owned.adopted[key]))
    actions: list[Action] = []
    if policy == "Orphan":
        actions += [Action("orphan", "cleanup", o, uid=uid) for o in owned.ours.values()]
    else:
        actions += [
            Action("delete", "cleanup", o, uid=(o.get("metadata") or {}).get("uid")) for o in owned.ours.values()
        ]
    actions += _unlabel_actions(snapshot, set(), body.metadata.name or "")
    outcome = await applier.execute(kube, actions)
    verbs = {"orphan": "Orphaned", "delete": "Deleted"}
    for action in outcome.done:
        logger.info("%s %s", verbs.get(action.op, "Released our labels on"), describe(action.key))
    return [e for _, e in outcome.errors]
