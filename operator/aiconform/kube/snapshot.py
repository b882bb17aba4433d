"""One consistent, read-only view of the cluster objects the checks look at.

The operator fills it from its watches (informer.py, view.py); `aiconform check` fills it once with LIST calls;
both read what `sources.SOURCES` describes and keep the same fields of it. Checks are
pure functions of (snapshot, profile) so both paths give the same verdicts. Objects stay plain dicts as the API
server returns them: the checks read a handful of fields and typed models would only add drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Obj = Mapping[str, Any]


def established(crd: Obj) -> bool:
    """A CRD whose resources are served. `status.conditions` may be null on a CRD created a moment ago."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Scrape:
    """Result of one scrape of a metrics endpoint (e.g. a DCGM exporter pod), parsed by a Prometheus text parser."""

    target: str  # "ip:port/path"
    node: str | None
    ok: bool
    error: str = ""
    samples: tuple[MetricSample, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    server_version: str | None = None  # /version gitVersion, e.g. "v1.37.2"
    # Served resources from discovery as "group/version/plural" ("v1/pods" for the core group).
    api_resources: frozenset[str] = frozenset()
    namespaces: tuple[Obj, ...] = ()
    nodes: tuple[Obj, ...] = ()
    crds: tuple[Obj, ...] = ()
    apiservices: tuple[Obj, ...] = ()
    resource_slices: tuple[Obj, ...] = ()
    device_classes: tuple[Obj, ...] = ()
    deployments: tuple[Obj, ...] = ()
    daemonsets: tuple[Obj, ...] = ()
    pods: tuple[Obj, ...] = ()
    services: tuple[Obj, ...] = ()
    hpas: tuple[Obj, ...] = ()
    validating_admission_policies: tuple[Obj, ...] = ()
    validating_admission_policy_bindings: tuple[Obj, ...] = ()
    validating_webhooks: tuple[Obj, ...] = ()
    # Custom resources of optional stacks, keyed by "plural.group" (e.g. "clusterqueues.kueue.x-k8s.io").
    # Absent key: the CRD is not installed or not listed; empty tuple: installed, no objects.
    custom: Mapping[str, tuple[Obj, ...]] = field(default_factory=dict)
    scrapes: tuple[Scrape, ...] = ()
    # Sources (by `sources.Watched.key`, e.g. "pods", "clusterqueues.kueue.x-k8s.io") that could not be read,
    # with why: "forbidden: HTTP 403: ... (needs list and watch on ...)" or "LIST failed: ...". Their objects
    # above are empty because they are unknown, not because none exist.
    unreadable: Mapping[str, str] = field(default_factory=dict)

    def served(self, group_version: str, plural: str) -> bool:
        return f"{group_version}/{plural}" in self.api_resources

    def crd(self, name: str) -> Obj | None:
        return next((c for c in self.crds if c.get("metadata", {}).get("name") == name), None)

    def objects(self, key: str) -> tuple[Obj, ...]:
        return tuple(self.custom.get(key, ()))


_CLUSTER_FIELDS = (
    "nodes",
    "apiservices",
    "resource_slices",
    "device_classes",
    "validating_admission_policies",
    "validating_admission_policy_bindings",
    "validating_webhooks",
)


_NAMESPACED_FIELDS = ("deployments", "daemonsets", "pods", "services", "hpas")
_Placed = dict[str, list[tuple[int, Obj]]]  # namespace → (position in the snapshot's tuple, object)


class _NamespaceIndex:
    """Where each namespaced object of one snapshot is, by namespace: `within` for a batch of namespaces then
    costs the batch, not a walk over every object (a whole pass takes 30 batches at 5,000 namespaces)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.fields: dict[str, _Placed] = {f: _place(getattr(snapshot, f)) for f in _NAMESPACED_FIELDS}
        self.fields["namespaces"] = _place(snapshot.namespaces, by_name=True)
        self.custom: dict[str, tuple[_Placed, tuple[tuple[int, Obj], ...]]] = {}
        for key, objs in snapshot.custom.items():
            placed = _place(objs)
            self.custom[key] = (placed, tuple(placed.pop("", ())))


def _place(objs: tuple[Obj, ...], by_name: bool = False) -> _Placed:
    out: _Placed = {}
    for i, o in enumerate(objs):
        meta = o.get("metadata") or {}
        out.setdefault(str(meta.get("name" if by_name else "namespace") or ""), []).append((i, o))
    return out


def _gather(placed: _Placed, namespaces: frozenset[str], *more: tuple[int, Obj]) -> tuple[Obj, ...]:
    """The objects of these namespaces (and `more`), in the snapshot's own order."""
    found = [p for ns in namespaces for p in placed.get(ns, ())]
    found.extend(more)
    found.sort(key=lambda p: p[0])
    return tuple(o for _, o in found)


def namespace_index(snapshot: Snapshot) -> _NamespaceIndex:
    """The snapshot's index by namespace, built once (kept on the frozen snapshot itself)."""
    held = snapshot.__dict__.get("_namespace_index")
    if held is None:
        held = _NamespaceIndex(snapshot)
        object.__setattr__(snapshot, "_namespace_index", held)  # a cache of what the snapshot already holds
    return held


def within(snapshot: Snapshot, namespaces: frozenset[str], cluster: frozenset[str] | None = None) -> Snapshot:
    """The snapshot as seen from `namespaces` alone: those Namespace objects and the namespaced objects in them;
    of the cluster-scoped data, the fields and custom keys `cluster` names (None: all), CRDs, discovery and the
    server version always. What a tenant-local component renders for these namespaces from it is what it renders
    for them from the whole snapshot (components.TENANT_LOCAL; held by tests/unit/components)."""
    index = namespace_index(snapshot)
    names = frozenset(n for n in namespaces if n)
    custom = {
        key: _gather(placed, names, *(whole if cluster is None or key in cluster else ()))
        for key, (placed, whole) in index.custom.items()
    }
    dropped = {f: () for f in _CLUSTER_FIELDS if cluster is not None and f not in cluster}
    return replace(
        snapshot,
        custom=custom,
        **{f: _gather(index.fields[f], names) for f in (*_NAMESPACED_FIELDS, "namespaces")},  # type: ignore[arg-type]
        **dropped,  # type: ignore[arg-type]
    )
