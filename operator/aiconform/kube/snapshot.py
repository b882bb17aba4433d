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


def within(snapshot: Snapshot, namespaces: frozenset[str], cluster: frozenset[str] | None = None) -> Snapshot:
    """The snapshot as seen from `namespaces` alone: those Namespace objects and the namespaced objects in them;
    of the cluster-scoped data, the fields and custom keys `cluster` names (None: all), CRDs, discovery and the
    server version always. What a tenant-local component renders for these namespaces from it is what it renders
    for them from the whole snapshot (components.TENANT_LOCAL; held by tests/unit/components)."""

    def inside(objs: tuple[Obj, ...]) -> tuple[Obj, ...]:
        return tuple(o for o in objs if (o.get("metadata") or {}).get("namespace") in namespaces)

    def kept(key: str, objs: tuple[Obj, ...]) -> tuple[Obj, ...]:  # custom resources: cluster-scoped ones as asked
        keep_cluster = cluster is None or key in cluster
        out = []
        for o in objs:
            ns = (o.get("metadata") or {}).get("namespace")
            if (ns in namespaces) if ns else keep_cluster:
                out.append(o)
        return tuple(out)

    dropped = {f: () for f in _CLUSTER_FIELDS if cluster is not None and f not in cluster}
    return replace(
        snapshot,
        namespaces=tuple(n for n in snapshot.namespaces if (n.get("metadata") or {}).get("name") in namespaces),
        custom={key: kept(key, objs) for key, objs in snapshot.custom.items()},
        deployments=inside(snapshot.deployments),
        daemonsets=inside(snapshot.daemonsets),
        pods=inside(snapshot.pods),
        services=inside(snapshot.services),
        hpas=inside(snapshot.hpas),
        **dropped,  # type: ignore[arg-type]
    )
