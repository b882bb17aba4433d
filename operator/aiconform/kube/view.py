"""The operator's in-memory view of the cluster, fed by our list+watch loops (informer.py), read as a `Snapshot`.

Every watched kind lands in one store keyed by (namespace, name); each change bumps a generation counter and
wakes whoever waits for changes (the per-profile evaluators).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube import kinds, sources
from aiconform.kube.snapshot import Obj, Scrape, Snapshot, established
from aiconform.kube.sources import CUSTOM, KEEP_ALL, SOURCES, Trim, Watched

__all__ = ["MAX_PENDING_DELETIONS", "ClusterView", "Owned", "Watched", "compact", "ident_of", "trim"]


_Leaf = tuple[tuple[str, Any], ...]


def compact(value: Any, leaves: dict[_Leaf, dict[str, Any]]) -> Any:
    """The same data in less memory: keys and short strings interned, and equal leaf maps within one object
    shared (a ResourceSlice repeats `{"string": "Ampere"}` for every device: 66 KB per slice becomes 23 KB).
    Safe because nothing mutates the view; `leaves` is per object, so nothing outlives it."""
    if isinstance(value, dict):
        out = {sys.intern(k) if isinstance(k, str) else k: compact(v, leaves) for k, v in value.items()}
        if all(isinstance(v, str | int | float | bool) or v is None for v in out.values()):
            return leaves.setdefault(tuple(out.items()), out)
        return out
    if isinstance(value, list):
        return [compact(v, leaves) for v in value]
    if isinstance(value, str) and len(value) <= 64:
        return sys.intern(value)
    return value


def trim(body: Mapping[str, Any], rule: Trim = KEEP_ALL) -> dict[str, Any]:
    """What the view keeps of an object (`sources.trim`, the same as `check` keeps), compacted."""
    # Every kind: a walk per event is cheap next to the memory. Our own 7,000 objects at 1,000 namespaces hold
    # 30 MB as decoded (each with its own copy of every key) and 14 MB compacted.
    compacted: dict[str, Any] = compact(sources.trim(body, rule), {})
    return compacted


MAX_PENDING_DELETIONS = 10_000


def ident_of(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@dataclass(frozen=True)
class Owned:
    """A profile's objects: those it owns alone, and those another controller has adopted (left alone)."""

    ours: dict[kinds.Ident, Obj]
    adopted: dict[kinds.Ident, Obj]


class ClusterView:
    """Objects by watched key, then by (namespace, name). Single event loop: no locking needed."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {w.key: {} for w in SOURCES}
        self._unreadable: dict[str, str] = {}  # source key → why its LIST is refused (Snapshot.unreadable)
        # Our objects deleted by someone, by profile: the fast repair path (evaluator.repair_deletions) takes them.
        self._deleted: dict[str, list[kinds.Ident]] = {}
        self._deleted_events: dict[str, asyncio.Event] = {}
        self.generation = 0
        self._changed = asyncio.Event()
        self.server_version: str | None = None
        self.api_resources: frozenset[str] = frozenset()
        self.scrapes: tuple[Scrape, ...] = ()

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
            if store.pop(ident, None) is None:
                return
        else:
            watched = sources.BY_KEY.get(key)
            trimmed = trim(body, watched.trim if watched is not None else KEEP_ALL)
            if store.get(ident) == trimmed:
                return  # e.g. a resync or a status heartbeat that changed nothing we keep
            store[ident] = trimmed
        self.touch()

    def touch(self) -> None:
        self.generation += 1
        self._changed.set()

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
        for ident, obj in list(self._objects.get(key, {}).items()):
            if ident not in keep:
                self.apply_event(key, "DELETED", obj)

    def drop(self, key: str) -> None:
        """Forget every object of `key` (its resource is no longer served): not deletions to repair."""
        if self._objects.get(key) or key in self._unreadable:
            self._objects[key] = {}
            self._unreadable.pop(key, None)
            self.touch()

    def set_unreadable(self, key: str, why: str | None) -> None:
        """Record that `key` cannot be listed (`why`), or that it can again (None). Changes wake the profiles:
        what a check cannot see must show in its verdict, not read as "none exist"."""
        if self._unreadable.get(key) == why:
            return
        if why is None:
            self._unreadable.pop(key, None)
        else:
            self._unreadable[key] = why
        self.touch()

    def size(self) -> int:
        return sum(len(v) for v in self._objects.values())

    def objects(self, key: str) -> tuple[Obj, ...]:
        return tuple(self._objects.get(key, {}).values())

    def managed(self, profile: str, uid: str) -> Owned:
        """The objects the profile named `profile` (with `uid`) made, by identity, and those of them another
        controller has since adopted (see kinds.ownership). Our labels only narrow the search."""
        out = Owned({}, {})
        for store in self._objects.values():
            for obj in store.values():
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE or labels.get(LABEL_PROFILE) != profile:
                    continue
                whose = kinds.ownership(obj, uid)
                if whose == "ours":
                    out.ours[kinds.ident_of(obj)] = obj
                elif whose == "adopted":
                    out.adopted[kinds.ident_of(obj)] = obj
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
