"""One consistent, read-only view of the cluster objects the checks look at.

The operator fills it from its watches (informer.py, view.py); `aiconform check` fills it once with LIST calls;
both read what `sources.SOURCES` describes and keep the same fields of it. Checks are
pure functions of (snapshot, profile) so both paths give the same verdicts. Objects stay plain dicts as the API
server returns them: the checks read a handful of fields and typed models would only add drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
