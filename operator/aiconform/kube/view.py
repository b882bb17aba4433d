"""The operator's in-memory view of the cluster, fed by our list+watch loops (informer.py), read as a `Snapshot`.

Every watched kind lands in one store keyed by (namespace, name); each change bumps a generation counter, is
written to a bounded change log (which source, which namespace, whose object) and wakes whoever waits for changes
(the per-profile evaluators). A pass asks the log what changed since its last one (`changes_since`) and redoes only
what reads that (operator/incremental.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiconform.api.constants import LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube import kinds, sources
from aiconform.kube.packing import Packed, pack
from aiconform.kube.records import Layouts, Record
from aiconform.kube.snapshot import Obj, Scrape, Snapshot, established
from aiconform.kube.sources import CUSTOM, KEEP_ALL, SOURCES, Trim, Watched

__all__ = [
    "EVERYTHING",
    "MAX_PENDING_DELETIONS",
    "Change",
    "ClusterView",
    "Decoding",
    "Owned",
    "Watched",
    "compact",
    "ident_of",
    "trim",
]


Shared = dict[tuple[Any, ...], Any]  # compact's table: a part's content (children by identity) → the part


def compact(value: Any, shared: Shared, layouts: Layouts | None = None, earlier: Shared | None = None) -> Any:
    """The same data in less memory: keys and short strings interned, and equal maps and lists within one object
    shared (a ResourceSlice repeats `{"string": "Ampere"}` and whole capacity maps for every device: 66 KB per
    slice becomes 20 KB). Safe because nothing mutates the view; `shared` keeps every part alive while the object
    is compacted, so a part's id names it. With `layouts`, maps become records (kube/records.py) with layouts
    shared across objects. `earlier`: the table of another object (the last one of the kind): its equal parts are
    used instead (every Namespace's `{"finalizers": ["kubernetes"]}`, a Deployment's pod template)."""
    if isinstance(value, dict):
        out = {
            sys.intern(k) if isinstance(k, str) else k: compact(v, shared, layouts, earlier) for k, v in value.items()
        }
        # Tagged by form: a record is never handed out where a dict is kept (labels equal to a selector's).
        form = "map" if layouts is None else "record"
        return _shared((form, *((k, _token(v)) for k, v in out.items())), out, shared, layouts, earlier)
    if isinstance(value, list):
        items = [compact(v, shared, layouts, earlier) for v in value]
        return _shared(("list", *(_token(v) for v in items)), items, shared, None, earlier)
    if isinstance(value, str) and len(value) <= 64:
        return sys.intern(value)
    return value


def _shared(key: tuple[Any, ...], part: Any, shared: Shared, layouts: Layouts | None, earlier: Shared | None) -> Any:
    known = shared.get(key)
    if known is None and earlier is not None:
        known = earlier.get(key)
    if known is None:
        known = layouts.record(part) if layouts is not None else part  # lists are passed without layouts
    return shared.setdefault(key, known)


def _token(value: Any) -> tuple[type, Any]:
    """What tells a compacted value apart: its type too (True == 1 == 1.0 in Python, not in JSON)."""
    return (type(value), id(value)) if isinstance(value, dict | list | Record) else (type(value), value)


def trim(
    body: Mapping[str, Any],
    rule: Trim = KEEP_ALL,
    layouts: Layouts | None = None,
    earlier: Shared | None = None,
    shared: Shared | None = None,
) -> dict[str, Any]:
    """What the view keeps of an object (`sources.trim`, the same as `check` keeps), compacted; with `layouts`
    (the view's), every map but the metadata and labels as a record (kube/records.py). `earlier`, `shared`: see
    `compact` (the view passes the last object's table of the kind, and keeps this one's for the next)."""
    # Every kind: a walk per event is cheap next to the memory. Our own 7,000 objects at 1,000 namespaces hold
    # 30 MB as decoded (each with its own copy of every key) and 14 MB compacted. Records and parts shared with
    # the last object of the kind about halve the rest: 45 -> 24 MB of the benchmark's cluster (docs/performance.md).
    shared = {} if shared is None else shared
    kept = sources.trim(body, rule)
    # Metadata and labels stay dicts: every check reads them, for every object (a record's Python-level `get`
    # made secure_accelerator_access 18% slower at 15,000 namespaces; the rest of an object is read far less).
    meta = {
        sys.intern(k): compact(v, shared, None if k == "labels" else layouts, earlier)
        for k, v in kept["metadata"].items()
    }
    return {sys.intern(k): meta if k == "metadata" else compact(v, shared, layouts, earlier) for k, v in kept.items()}


# What a store holds per object: the trimmed object, or for kinds only we write (watch mode "ours") the object
# packed (kube/packing.py). Only the applier reads those, a few namespaces at a time, so they are unpacked on
# demand: ~100 bytes against 1.5 KB as a compacted dict (a ResourceQuota of ours; 25,000 such at 5,000 ns).
_Stored = Obj | Packed


def _unpack(stored: _Stored) -> Obj:
    return stored.unpack() if isinstance(stored, Packed) else stored


MAX_PENDING_DELETIONS = 10_000
# Changes remembered for the passes. A pass that falls further behind (the initial listing, a mass update) gets
# None from `changes_since` and redoes everything.
CHANGE_LOG = 20_000
EVERYTHING = "*"  # the key of a change no source describes (a test's touch): every pass redoes everything


@dataclass(frozen=True, slots=True)
class Change:
    """What changed: a source (`sources.Watched.key`, or EVERYTHING), where, and whose object it was."""

    key: str
    namespace: str | None  # the object's namespace; a Namespace's own name; "" cluster-scoped; None: all of `key`
    profile: str = ""  # the profile label of one of our objects ("" for everyone else's)
    component: str = ""  # its component label


def ident_of(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Decoding(Mapping[kinds.Ident, Obj]):
    """A profile's objects by identity, each decoded when read and not kept (a caller holds what it needs): a
    5,000-namespace whole pass decodes one step's objects at a time. With each object's component label, known
    without decoding it."""

    def __init__(self) -> None:
        self._stored: dict[kinds.Ident, _Stored] = {}
        self._components: dict[kinds.Ident, str] = {}

    def add(self, ident: kinds.Ident, stored: _Stored, component: str) -> None:
        self._stored[ident] = stored
        self._components[ident] = component

    def component(self, ident: kinds.Ident) -> str:
        return self._components[ident]

    def __getitem__(self, ident: kinds.Ident) -> Obj:
        return _unpack(self._stored[ident])

    def __iter__(self) -> Iterator[kinds.Ident]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


@dataclass(frozen=True)
class Owned:
    """A profile's objects: those it owns alone, and those another controller has adopted (left alone)."""

    ours: Decoding = field(default_factory=Decoding)
    adopted: dict[kinds.Ident, Obj] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Indexed:
    """One of our objects in the profile index: as stored, its identity and what decides whose it is."""

    stored: _Stored
    ident: kinds.Ident
    owners: kinds.Owners


class ClusterView:
    """Objects by watched key, then by (namespace, name). Single event loop: no locking needed."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], _Stored]] = {w.key: {} for w in SOURCES}
        self._unreadable: dict[str, str] = {}  # source key → why its LIST is refused (Snapshot.unreadable)
        # Our objects deleted by someone, by profile: the fast repair path (evaluator.repair_deletions) takes them.
        self._deleted: dict[str, list[kinds.Ident]] = {}
        self._deleted_events: dict[str, asyncio.Event] = {}
        self.generation = 0
        self._log: deque[tuple[int, Change]] = deque()  # (generation, change), the last CHANGE_LOG of them
        # Our objects by profile label and component label, so a pass finds its own without walking every store.
        # By profile, component and partition (kinds.partition_of), so a pass that redoes a few namespaces visits
        # only theirs.
        self._ours: dict[str, dict[str, dict[str, dict[tuple[str, tuple[str, str]], _Indexed]]]] = {}
        self._changed = asyncio.Event()
        self.server_version: str | None = None
        self.api_resources: frozenset[str] = frozenset()
        self.scrapes: tuple[Scrape, ...] = ()
        self._zdicts: dict[str, bytes] = {}  # by source key: what its packed objects are deflated against
        # One of each distinct Owners (a profile's objects all have the same): shared, not one per object.
        self._owners: dict[kinds.Owners, kinds.Owners] = {}
        self._layouts = Layouts()  # the key layouts of the records the objects' maps are held as
        self._last: dict[str, Shared] = {}  # by source key: the compaction table of the last object kept (compact)

    def apply_event(
        self, key: str, event_type: str | None, body: Mapping[str, Any], *, managed_only: bool = False
    ) -> None:
        meta = body.get("metadata") or {}
        ident = ident_of(body)
        store = self._objects.setdefault(key, {})
        ours = (meta.get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE
        # A deletion to repair: one of our kinds, labelled and owned by a profile (labels alone are copied by
        # other controllers; the fast path only re-creates what the profile's last pass wanted anyway).
        if event_type == "DELETED" and ours and kinds.is_managed(body) and kinds.profile_owner_uids(body)[0]:
            profile = str((meta.get("labels") or {}).get(LABEL_PROFILE) or "")
            pending = self._deleted.setdefault(profile, [])
            pending.append(kinds.ident_of(body))
            del pending[:-MAX_PENDING_DELETIONS]  # nobody takes them (no daemon for that profile): stay bounded
            self.deleted_event(profile).set()
        if event_type == "DELETED" or (managed_only and not ours):
            stored = store.pop(ident, None)
            if stored is None:
                return
            gone = _unpack(stored)
            self._index(key, ident, gone, None, None)
            self._record(_change_of(key, gone))
            return
        watched = sources.BY_KEY.get(key)
        rule = watched.trim if watched is not None else KEEP_ALL
        packed = watched is not None and watched.mode == "ours"
        # Packed objects are not compacted: interning would be undone by the encoding.
        if packed:
            trimmed = sources.trim(body, rule)
        else:
            table: Shared = {}
            trimmed = trim(body, rule, self._layouts, self._last.get(key), table)
            self._last[key] = table
        new: _Stored = pack(trimmed, self._zdicts, key) if packed else trimmed
        stored = store.get(ident)
        if stored == new:
            return  # e.g. a resync or a status heartbeat that changed nothing we keep
        store[ident] = new
        before = _unpack(stored) if stored is not None else None
        self._index(key, ident, before, trimmed, new)
        if before is not None and _owner_labels(before) != _owner_labels(trimmed):
            self._record(_change_of(key, before))  # it stopped being (or became) one of a profile's objects
        self._record(_change_of(key, trimmed))

    def _index(
        self, key: str, ident: tuple[str, str], before: Obj | None, after: Obj | None, stored: _Stored | None
    ) -> None:
        was = _owner_labels(before) if before is not None else ("", "")
        now = _owner_labels(after) if after is not None else ("", "")
        part = _partition(key, ident)
        if was[0] and was != now:
            parts = self._ours.get(was[0], {}).get(was[1], {})
            parts.get(part, {}).pop((key, ident), None)
            if not parts.get(part, True):
                del parts[part]
        if now[0] and after is not None and stored is not None:
            owners = kinds.Owners.of(after)
            indexed = _Indexed(stored, kinds.ident_of(after), self._owners.setdefault(owners, owners))
            self._ours.setdefault(now[0], {}).setdefault(now[1], {}).setdefault(part, {})[(key, ident)] = indexed

    def _record(self, change: Change) -> None:
        self.generation += 1
        self._log.append((self.generation, change))
        if len(self._log) > CHANGE_LOG:
            self._log.popleft()
        self._changed.set()

    def changes_since(self, since: int) -> frozenset[Change] | None:
        """The distinct changes after generation `since`, or None when the log no longer reaches back that far
        (then everything counts as changed)."""
        if since >= self.generation:
            return frozenset()
        if not self._log or self._log[0][0] > since + 1:
            return None
        out: set[Change] = set()
        for gen, change in reversed(self._log):
            if gen <= since:
                break
            out.add(change)
        return frozenset(out)

    def touch(self, key: str = EVERYTHING) -> None:
        """Something no watch event describes changed (`key`: a pseudo-source such as "scrapes")."""
        self._record(Change(key, None))

    async def wait_changed(self, since: int, timeout: float) -> bool:
        """Return True as soon as the generation moved past `since`, False after `timeout` seconds."""
        if self.generation != since:
            return True
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return self.generation != since
        return True

    def deleted_event(self, profile: str) -> asyncio.Event:
        """Set when an object of this profile's is deleted: one per profile, so no repair waits for another's."""
        return self._deleted_events.setdefault(profile, asyncio.Event())

    def take_deleted(self, profile: str) -> list[kinds.Ident]:
        """Keys of this profile's objects deleted since the last call (and forget them)."""
        return self._deleted.pop(profile, [])

    def retain(self, key: str, keep: set[tuple[str, str]]) -> None:
        """The end of a fresh LIST: every object of `key` it did not show was deleted meanwhile."""
        for ident, stored in list(self._objects.get(key, {}).items()):
            if ident not in keep:
                self.apply_event(key, "DELETED", _unpack(stored))

    def drop(self, key: str) -> None:
        """Forget every object of `key` (its resource is no longer served): not deletions to repair."""
        if self._objects.get(key) or key in self._unreadable:
            for ident, stored in self._objects.get(key, {}).items():
                self._index(key, ident, _unpack(stored), None, None)
            self._objects[key] = {}
            self._unreadable.pop(key, None)
            self._record(Change(key, None))

    def set_unreadable(self, key: str, why: str | None) -> None:
        """Record that `key` cannot be listed (`why`), or that it can again (None). Changes wake the profiles:
        what a check cannot see must show in its verdict, not read as "none exist"."""
        if self._unreadable.get(key) == why:
            return
        if why is None:
            self._unreadable.pop(key, None)
        else:
            self._unreadable[key] = why
        self._record(Change(key, None))

    def size(self) -> int:
        return sum(len(v) for v in self._objects.values())

    def objects(self, key: str) -> tuple[Obj, ...]:
        stored = self._objects.get(key, {}).values()
        watched = sources.BY_KEY.get(key)
        if watched is None or watched.mode != "ours":  # held as they are (every field of a pass's snapshot)
            return tuple(stored)  # type: ignore[arg-type]
        return tuple(_unpack(s) for s in stored)

    def managed(self, profile: str, uid: str, where: Mapping[str, frozenset[str] | None] | None = None) -> Owned:
        """The objects the profile named `profile` (with `uid`) made, by identity, and those of them another
        controller has since adopted (see kinds.ownership). Our labels only narrow the search. `where`: only
        these components' objects (component → partitions, kinds.partition_of; None: all of its objects)."""
        out = Owned()
        for component, by_part in self._ours.get(profile, {}).items():
            if where is not None and component not in where:
                continue
            parts = where.get(component) if where is not None else None
            chosen = by_part.values() if parts is None else (by_part[p] for p in parts if p in by_part)
            for indexed in (i for objects in chosen for i in objects.values()):
                whose = indexed.owners.ownership(uid)
                if whose == "ours":
                    out.ours.add(indexed.ident, indexed.stored, component)
                elif whose == "adopted":
                    out.adopted[indexed.ident] = _unpack(indexed.stored)
        return out

    def snapshot(self) -> Snapshot:
        fields = {w.field: self.objects(w.key) for w in SOURCES if w.field is not None and w.field != CUSTOM}
        served_crds = {c["metadata"]["name"] for c in fields["crds"] if established(c)}
        # An optional stack is "present" once its CRD is Established; before that the key is absent.
        custom = {w.key: self.objects(w.key) for w in SOURCES if w.field == CUSTOM and w.key in served_crds}
        return Snapshot(
            server_version=self.server_version,
            api_resources=self.api_resources,
            custom=custom,
            scrapes=self.scrapes,
            unreadable=dict(self._unreadable),
            **fields,
        )


def _partition(key: str, ident: tuple[str, str]) -> str:
    """kinds.partition_of, from the store key alone: a Namespace's own name, else the object's namespace."""
    namespace, name = ident
    return name if key == "namespaces" else namespace


def _owner_labels(obj: Obj) -> tuple[str, str]:
    """(profile, component) of one of our objects (our managed-by label), else ("", "")."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE:
        return "", ""
    return str(labels.get(LABEL_PROFILE) or ""), str(labels.get(LABEL_COMPONENT) or "")


def _change_of(key: str, obj: Obj) -> Change:
    meta = obj.get("metadata") or {}
    where = str(meta.get("name") or "") if key == "namespaces" else str(meta.get("namespace") or "")
    profile, component = _owner_labels(obj)
    return Change(key, where, profile, component)
