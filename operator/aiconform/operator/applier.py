"""From desired objects to the cluster: decide (pure) what to create, update, prune, and what clashes; then do
it (thin I/O) with our field manager — or, in Audit mode, only say what would be done.

Ownership rules, the product's promise of never losing data:
- We only ever update or delete objects we made: of a kind the components make, owned by this profile and by
  nothing else (kube.kinds.ownership). Labels never decide it: other controllers copy them (KEDA puts a
  ScaledObject's labels, ours included, on the HPA it makes).
- A new object is created with POST, never with server-side apply: POST fails on a taken name, so an object a
  user made is never adopted or overwritten. The clash is reported instead (status and an Event).
- Updates are server-side apply with force: on our own objects that takes back fields someone edited (drift).
- Deletes carry the object's uid as a precondition: a same-named successor made by someone else survives.
- Field patches (labels on namespaces we do not own) are server-side applied without force: if a user owns a
  field we want, the API server refuses and we report it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiconform.api.constants import FIELD_MANAGER
from aiconform.kube import kinds
from aiconform.kube.client import KubeApiError, KubeClient, path_for

Key = kinds.Ident  # group, kind, namespace ("" when cluster-scoped), name: never the version
Op = Literal["create", "update", "delete", "label", "orphan"]
key_of = kinds.ident_of


def describe(key: Key) -> str:
    _, kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True)
class Action:
    op: Op
    component: str
    obj: Mapping[str, Any]
    uid: str | None = None  # delete: only this very object; orphan: the owner whose reference goes
    field_manager: str = FIELD_MANAGER  # label patches use the profile's own manager (see label_manager)

    @property
    def key(self) -> Key:
        return key_of(self.obj)


def label_manager(profile: str) -> str:
    """Field manager for a profile's labels on namespaces it does not own. Per profile, so that one profile
    releasing its labels (deselected namespace, deletion) never strips labels another profile set."""
    return f"{FIELD_MANAGER}-{profile}"[:128]


@dataclass(frozen=True)
class Conflict:
    component: str
    key: Key
    reason: str

    def message(self) -> str:
        return f"{describe(self.key)} {self.reason}; left untouched"


def is_subset(want: Any, have: Any) -> bool:
    """Does `have` already hold every field of `want`? (The server adds defaults; those do not count.)"""
    if isinstance(want, Mapping):
        # An empty value we ask for may come back omitted (e.g. `selector: {}`): that is not drift.
        return isinstance(have, Mapping) and all(
            is_subset(v, have[k]) if k in have else v in ({}, [], None, "") for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if isinstance(want, int | float) and isinstance(have, int | float):
        return float(want) == float(have)
    return bool(want == have) or str(want) == str(have)


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What we compare: everything but the server's bookkeeping, and the version: an object seen at its CRD's
    preferred version is the same object we wrote at ours (an update per pass would follow otherwise)."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion")}, "metadata": kept}


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    conflicts: tuple[Conflict, ...]
    managed: Mapping[str, int]  # component → objects it has in the cluster (desired and present)
    # (component, partition) → the same, by partition (kinds.partition_of: a namespace, "" cluster-scoped)
    managed_in: Mapping[tuple[str, str], int] = field(default_factory=dict)


def decide(
    desired: Mapping[str, Iterable[Mapping[str, Any]]],
    field_patches: Mapping[str, Iterable[Mapping[str, Any]]],
    existing: Mapping[Key, Mapping[str, Any]],
    foreign: Mapping[Key, str],
    namespaces: Mapping[str, Mapping[str, Any]],
    profile: str = "",
) -> Decision:
    """Pure. `existing`: our objects for this profile (by key); `foreign`: keys known to be taken by someone
    else, with why; `namespaces`: namespace objects by name (for label field patches)."""
    actions: list[Action] = []
    conflicts: list[Conflict] = []
    managed: dict[str, int] = {}
    managed_in: dict[tuple[str, str], int] = {}
    wanted: set[Key] = set()
    for component, objs in desired.items():
        managed.setdefault(component, 0)
        for obj in objs:
            key = key_of(obj)
            wanted.add(key)
            if key in foreign:
                conflicts.append(Conflict(component, key, foreign[key]))
                continue
            have = existing.get(key)
            if have is None:
                actions.append(Action("create", component, obj))
                continue
            managed[component] += 1
            where = (component, kinds.partition_of(key))
            managed_in[where] = managed_in.get(where, 0) + 1
            if not is_subset(_content(obj), _content(have)):
                actions.append(Action("update", component, obj))
    for key, have in sorted(existing.items()):
        if key not in wanted:
            labels = (have.get("metadata") or {}).get("labels") or {}
            component = labels.get("app.kubernetes.io/component", "unknown")
            actions.append(Action("delete", component, have, uid=(have.get("metadata") or {}).get("uid")))
    for component, patches in field_patches.items():
        for patch in patches:
            name = patch["metadata"]["name"]
            ns = namespaces.get(name)
            if ns is None:
                continue  # the namespace went away meanwhile
            want = patch["metadata"].get("labels") or {}
            have_labels = (ns.get("metadata") or {}).get("labels") or {}
            if any(have_labels.get(k) != v for k, v in want.items()):
                actions.append(Action("label", component, patch, field_manager=label_manager(profile)))

    # The registry's apply order (namespaces first: objects inside one need it); deletes last, reversed.
    def rank(a: Action) -> tuple[bool, int]:
        i = kinds.apply_rank(a.key[1])
        return (a.op == "delete", -i if a.op == "delete" else i)

    actions.sort(key=rank)
    return Decision(tuple(actions), tuple(conflicts), managed, managed_in)


def audit_summary(actions: Iterable[Action], limit: int = 5) -> dict[str, list[str]]:
    """For Audit mode and status: what would be (or was) created, updated, deleted and labelled, by op."""
    out: dict[str, list[str]] = {}
    for action in actions:
        out.setdefault(action.op, []).append(describe(action.key))
    return {
        op: names[:limit] + ([f"and {len(names) - limit} more"] if len(names) > limit else [])
        for op, names in out.items()
    }


@dataclass
class Outcome:
    done: list[Action] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (component, what went wrong)
    failed: list[Key] = field(default_factory=list)  # the object of each error, in step with `errors`

    def fail(self, action: Action, what: str) -> None:
        self.errors.append((action.component, what))
        self.failed.append(action.key)


async def execute(kube: KubeClient, actions: Iterable[Action]) -> Outcome:
    """Carry the actions out; a clash found at write time becomes a Conflict, not an error.

    Concurrent within a phase (the client bounds requests in flight), phases in order: namespaces before what
    lives in them, then everything else, then deletes — so a burst of thousands of objects is not serialized.
    """
    out = Outcome()
    phases: dict[int, list[Action]] = {}
    for action in actions:
        phase = 2 if action.op == "delete" else 0 if action.key[1] == "Namespace" else 1
        phases.setdefault(phase, []).append(action)
    for phase in sorted(phases):
        await _pool(kube, phases[phase], out)
    return out


async def _pool(kube: KubeClient, actions: list[Action], out: Outcome) -> None:
    """As many workers as the client has requests in flight, not a task per action: 7,000 tasks (1,000
    namespaces) would hold every request body at once."""
    todo = iter(actions)

    async def worker() -> None:
        for action in todo:  # shared: each action is taken by one worker
            await _one(kube, action, out)

    await asyncio.gather(*(worker() for _ in range(min(kube.concurrency, len(actions)))))


async def _one(kube: KubeClient, action: Action, out: Outcome) -> None:
    """One action; whatever goes wrong with it is recorded against its component, never raised: a pass goes on
    with every other object, the checks and the status write (an unknown kind, a 403, a webhook's refusal)."""
    try:
        if action.op == "create":
            await _create(kube, action)
        elif action.op == "update":
            await kube.apply(action.obj, field_manager=FIELD_MANAGER, force=True)
        elif action.op == "delete":
            await kube.delete(action.obj, uid=action.uid)
        elif action.op == "orphan":
            patch = orphan_patch(action.obj, action.uid or "")
            await kube.request(
                "PATCH", path_for(action.obj), body=patch, content_type="application/json-patch+json", ok_missing=True
            )
        else:
            await kube.apply(action.obj, field_manager=action.field_manager, force=False)
        out.done.append(action)
    except _Taken as taken:
        out.conflicts.append(Conflict(action.component, action.key, taken.why))
    except KubeApiError as exc:
        if action.op == "label" and exc.status == 409:
            out.conflicts.append(Conflict(action.component, action.key, f"has labels owned by someone else ({exc})"))
        elif action.op == "delete" and exc.status == 409:
            pass  # the uid precondition failed: someone replaced it; not ours to delete
        elif action.op == "orphan" and exc.status in (409, 422):
            pass  # the uid test failed: a successor of the same name, not ours to touch
        else:
            out.fail(action, f"{action.op} {describe(action.key)}: {exc}")
    except Exception as exc:  # unknown kind, transport failure, a bug: reported, the pass goes on
        detail = str(exc) or type(exc).__name__
        out.fail(action, f"{action.op} {describe(action.key)}: {detail}")


def orphan_patch(obj: Mapping[str, Any], owner_uid: str) -> list[dict[str, Any]]:
    """A JSON patch that drops the owner's reference from this very object (the uid test guards against a
    same-named successor). Not server-side apply: our POST set the references (an Update entry in managedFields),
    which an apply by the same manager leaves in place, and the garbage collector then deleted every object a
    profile with `deletionPolicy: Orphan` was meant to leave behind."""
    meta = obj.get("metadata") or {}
    refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner_uid]
    return [
        {"op": "test", "path": "/metadata/uid", "value": meta.get("uid")},
        {"op": "add", "path": "/metadata/ownerReferences", "value": refs},
    ]


class _Taken(Exception):
    """The name is held by an object that is not ours."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def profile_uid_of(manifest: Mapping[str, Any]) -> str:
    """The uid of the profile a desired manifest belongs to (its owner reference)."""
    owners, _ = kinds.profile_owner_uids(manifest)
    return owners[0] if owners else ""


async def _create(kube: KubeClient, action: Action) -> None:
    """POST; on "already exists", look: our own object the watch has not shown us yet (after an API server
    restart, watches lag) is updated instead; anything else is someone else's and stays untouched."""
    try:
        await kube.create(action.obj, field_manager=FIELD_MANAGER)
        return
    except KubeApiError as exc:
        if exc.status != 409:
            raise
    current = await kube.get(path_for(action.obj))
    whose = "foreign" if current is None else kinds.ownership(current, profile_uid_of(action.obj))
    if whose == "adopted":
        raise _Taken(f"was made by aiconform and is now also owned by {owners_text(current or {})}")
    if whose != "ours":
        raise _Taken("exists and is not managed by aiconform")
    await kube.apply(action.obj, field_manager=FIELD_MANAGER, force=True)


def owners_text(obj: Mapping[str, Any]) -> str:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return ", ".join(f"{r.get('kind')}/{r.get('name')}" for r in refs if r.get("kind") != kinds.PROFILE_KIND)
