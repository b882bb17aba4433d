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
from aiconform.kube.snapshot import Obj, Scrape, Snapshot, established


@dataclass(frozen=True)
class Watched:
    """A resource the checks read: where it lands in the Snapshot."""

    group: str
    version: str | None  # None: the CRD's preferred version (custom resources of optional stacks)
    plural: str
    field: str  # Snapshot attribute, "custom" for optional stacks, "managed" for kinds only we write

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


CORE: tuple[Watched, ...] = (
    Watched("", "v1", "namespaces", "namespaces"),
    Watched("", "v1", "nodes", "nodes"),
    Watched("", "v1", "pods", "pods"),
    Watched("", "v1", "services", "services"),
    Watched("apps", "v1", "deployments", "deployments"),
    Watched("apps", "v1", "daemonsets", "daemonsets"),
    Watched("apiextensions.k8s.io", "v1", "customresourcedefinitions", "crds"),
    Watched("apiregistration.k8s.io", "v1", "apiservices", "apiservices"),
    Watched("resource.k8s.io", "v1", "resourceslices", "resource_slices"),
    Watched("resource.k8s.io", "v1", "deviceclasses", "device_classes"),
    Watched("autoscaling", "v2", "horizontalpodautoscalers", "hpas"),
    Watched("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "validating_admission_policies"),
    Watched(
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicybindings",
        "validating_admission_policy_bindings",
    ),
    Watched("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validating_webhooks"),
)

# Custom resources of optional stacks: watched while their CRD is Established.
CUSTOM: tuple[Watched, ...] = tuple(
    Watched(group, None, plural, "custom")
    for group, plural in (
        ("kueue.x-k8s.io", "clusterqueues"),
        ("kueue.x-k8s.io", "localqueues"),
        ("kueue.x-k8s.io", "resourceflavors"),
        ("gateway.networking.k8s.io", "gatewayclasses"),
        ("gateway.networking.k8s.io", "gateways"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("inference.networking.k8s.io", "inferencepools"),
        ("inference.networking.x-k8s.io", "inferencepools"),  # the pre-GA name of the same resource
        ("monitoring.coreos.com", "servicemonitors"),
        ("monitoring.coreos.com", "podmonitors"),
        ("monitoring.coreos.com", "prometheuses"),
        ("keda.sh", "scaledobjects"),
        ("karpenter.sh", "nodepools"),
        ("ray.io", "rayclusters"),
        ("k8s.cni.cncf.io", "network-attachment-definitions"),
        ("nvidia.com", "dynamographdeployments"),
        ("scheduling.volcano.sh", "podgroups"),
    )
)
# Kinds the checks do not read but the components write: only objects carrying our managed-by label are kept
# (a cluster's ConfigMaps are many and none of our business), so drift on them wakes the profile's daemon.
MANAGED: tuple[Watched, ...] = (
    Watched("", "v1", "serviceaccounts", "managed"),
    Watched("", "v1", "configmaps", "managed"),
    Watched("", "v1", "resourcequotas", "managed"),
    Watched("networking.k8s.io", "v1", "networkpolicies", "managed"),
    Watched("rbac.authorization.k8s.io", "v1", "clusterroles", "managed"),
    Watched("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "managed"),
)
ALL: tuple[Watched, ...] = CORE + CUSTOM + MANAGED


# What checks and components read of the most numerous kinds' status. The rest (node images, addresses,
# container statuses, probe and heartbeat times, a Deployment's rollout conditions and replica counts) costs
# memory, and each change of it would wake every profile's daemon for a full pass that changes nothing.
_KEPT_STATUS = {
    "Node": ("allocatable", "capacity", "conditions"),
    "Pod": ("phase", "podIP", "conditions"),
    "Deployment": ("availableReplicas",),
}
_VOLATILE_CONDITION_FIELDS = ("lastHeartbeatTime", "lastProbeTime")


def _trim_status(kind: str, status: Any) -> Any:
    keep = _KEPT_STATUS.get(kind)
    if keep is None or not isinstance(status, Mapping):
        return status
    out = {k: status[k] for k in keep if k in status}
    if isinstance(out.get("conditions"), list):
        out["conditions"] = [
            {k: v for k, v in c.items() if k not in _VOLATILE_CONDITION_FIELDS} if isinstance(c, Mapping) else c
            for c in out["conditions"]
        ]
    return out


def _trim_crd_spec(spec: Any) -> Any:
    """A CRD's schemas are most of its size (hundreds of KB for some) and no check reads them."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("versions"), list):
        return spec
    versions = [
        {k: v for k, v in ver.items() if k != "schema"} if isinstance(ver, Mapping) else ver for ver in spec["versions"]
    ]
    return {**spec, "versions": versions}


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


def trim(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keep what checks read; drop managedFields, last-applied copies, CRD schemas and volatile status."""
    kind = str(body.get("kind") or "")
    out = {k: v for k, v in body.items() if k != "metadata"}
    if "status" in out:
        out["status"] = _trim_status(kind, out["status"])
    if kind == "CustomResourceDefinition" and "spec" in out:
        out["spec"] = _trim_crd_spec(out["spec"])
    meta = dict(body.get("metadata") or {})
    # Every write bumps it, heartbeats included; kept, it made each node heartbeat a change that woke every
    # profile's daemon for a full pass (84 passes in 5 idle minutes at 2,000 nodes). Nothing reads it.
    meta.pop("resourceVersion", None)
    if body.get("kind") != "Namespace":  # for namespaces it tells which labels our field manager owns
        meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        meta["annotations"] = {
            k: v for k, v in annotations.items() if k != "kubectl.kubernetes.io/last-applied-configuration"
        }
    out["metadata"] = meta
    # Every kind: a walk per event is cheap next to the memory. Our own 7,000 objects at 1,000 namespaces hold
    # 30 MB as decoded (each with its own copy of every key) and 14 MB compacted.
    compacted: dict[str, Any] = compact(out, {})
    return compacted


MAX_PENDING_DELETIONS = 10_000


def ident_of(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class ClusterView:
    """Objects by watched key, then by (namespace, name). Single event loop: no locking needed."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {w.key: {} for w in ALL}
        # Our objects deleted by someone, by profile: the fast repair path (evaluator.repair_deletions) takes them.
        self._deleted: dict[str, list[tuple[str, str, str, str]]] = {}
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
        if event_type == "DELETED" and ours:
            profile = str((meta.get("labels") or {}).get(LABEL_PROFILE) or "")
            key4 = (str(body.get("apiVersion")), str(body.get("kind")), ident[0], ident[1])
            pending = self._deleted.setdefault(profile, [])
            pending.append(key4)
            del pending[:-MAX_PENDING_DELETIONS]  # nobody takes them (no daemon for that profile): stay bounded
            self.deleted_event(profile).set()
        if event_type == "DELETED" or (managed_only and not ours):
            if store.pop(ident, None) is None:
                return
        else:
            trimmed = trim(body)
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

    def take_deleted(self, profile: str) -> list[tuple[str, str, str, str]]:
        """Keys of this profile's objects deleted since the last call (and forget them)."""
        return self._deleted.pop(profile, [])

    def retain(self, key: str, keep: set[tuple[str, str]]) -> None:
        """The end of a fresh LIST: every object of `key` it did not show was deleted meanwhile."""
        for ident, obj in list(self._objects.get(key, {}).items()):
            if ident not in keep:
                self.apply_event(key, "DELETED", obj)

    def drop(self, key: str) -> None:
        """Forget every object of `key` (its resource is no longer served): not deletions to repair."""
        if self._objects.get(key):
            self._objects[key] = {}
            self.touch()

    def size(self) -> int:
        return sum(len(v) for v in self._objects.values())

    def objects(self, key: str) -> tuple[Obj, ...]:
        return tuple(self._objects.get(key, {}).values())

    def managed(self, profile: str) -> dict[tuple[str, str, str, str], Obj]:
        """Every watched object labelled as made by `profile`, by (apiVersion, kind, namespace, name)."""
        out: dict[tuple[str, str, str, str], Obj] = {}
        for store in self._objects.values():
            for (namespace, name), obj in store.items():
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE and labels.get(LABEL_PROFILE) == profile:
                    out[(str(obj.get("apiVersion")), str(obj.get("kind")), namespace, name)] = obj
        return out

    def snapshot(self) -> Snapshot:
        fields: dict[str, tuple[Obj, ...]] = {w.field: self.objects(w.key) for w in CORE}
        served_crds = {c["metadata"]["name"] for c in fields["crds"] if established(c)}
        # An optional stack is "present" once its CRD is Established; before that the key is absent.
        custom = {w.key: self.objects(w.key) for w in CUSTOM if w.key in served_crds}
        return Snapshot(
            server_version=self.server_version,
            api_resources=self.api_resources,
            custom=custom,
            scrapes=self.scrapes,
            **fields,
        )
