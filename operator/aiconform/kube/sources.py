"""What aiconform reads from the cluster, once: every watched resource with its version, the Snapshot field it lands
in, whether `check` can do without it, how it is watched, what of it is kept, and who reads it.

Both readers are built from `SOURCES`: the operator's informers and view (informer.py, view.py) and the one-shot
collector of `aiconform check` (collect.py). They read the same versions (a CRD's preferred served version for
optional stacks) and keep the same fields (`trim`), so a check sees the same data in either path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

from aiconform.api.constants import FIELD_MANAGER
from aiconform.kube.snapshot import Obj, Snapshot, established

WatchMode = Literal["all", "ours"]
CUSTOM = "custom"  # the `field` of optional stacks' resources: Snapshot.custom[key]


@dataclass(frozen=True)
class Trim:
    """What is kept of an object. Always dropped: metadata.resourceVersion (every heartbeat bumps it, and a
    change of it would wake every profile for nothing) and kubectl's last-applied copy."""

    status: tuple[str, ...] | None = None  # status fields kept (volatile condition times dropped); None: all
    # Keep the label entries of metadata.managedFields that field managers named with this prefix applied (a
    # namespace's tell which labels our profiles own); None: drop managedFields. Other managers' entries (kubectl,
    # a GitOps tool) cost ~1 KB per namespace and nothing reads them.
    managed_fields: str | None = None
    schemas: bool = True  # keep spec.versions[].schema (a CRD's: hundreds of KB each, and no check reads them)


KEEP_ALL = Trim()


@dataclass(frozen=True)
class Watched:
    """One resource aiconform reads."""

    group: str  # "" for the core group
    version: str | None  # None: the CRD's preferred served version (custom resources of optional stacks)
    plural: str
    field: str | None  # Snapshot attribute; CUSTOM for Snapshot.custom[key]; None: only the view keeps it
    required: bool = False  # `check` stops (exit 2) when it cannot list it; otherwise recorded as unreadable
    mode: WatchMode = "all"  # "ours": only objects with our managed-by label (kinds the checks do not read)
    trim: Trim = KEEP_ALL
    readers: tuple[str, ...] = ()  # checks (requirement ids) and components (spec.components names)

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _builtin(
    gv: str, plural: str, field: str, readers: str, *, required: bool = False, trim: Trim = KEEP_ALL
) -> Watched:
    group, _, version = gv.rpartition("/")
    return Watched(group, version, plural, field, required, "all", trim, _r(readers))


def _stack(group: str, plural: str, readers: str = "", trim: Trim = KEEP_ALL) -> Watched:
    if not readers:  # nothing reads a user's: only ours are watched and kept (bench copies cost 12 MB at 5,000 ns)
        return Watched(group, None, plural, None, mode="ours", trim=_NO_STATUS)
    return Watched(group, None, plural, CUSTOM, readers=_r(readers), trim=trim)


# Of a kind only the components write, the view keeps no status: the applier compares everything but status,
# and a ResourceQuota's status.used moves with every pod its namespace starts (each move woke a pass).
_NO_STATUS = Trim(status=())


def _ours(gv: str, plural: str) -> Watched:
    group, _, version = gv.rpartition("/")
    return Watched(group, version, plural, None, mode="ours", trim=_NO_STATUS)


def _r(readers: str) -> tuple[str, ...]:
    return tuple(readers.split())


# Readers as found in conformance/checks and components (direct reads and through conformance.facts);
# tests/unit/test_source_parity.py holds every check and component to reading only what lists it here.
SOURCES: tuple[Watched, ...] = (
    _builtin(
        "v1",
        "namespaces",
        "namespaces",
        "secure_accelerator_access dra kueue keda dcgmExporter quotas networkPolicies seccomp",
        required=True,
        trim=Trim(managed_fields=f"{FIELD_MANAGER}-"),
    ),
    _builtin(
        "v1",
        "nodes",
        "nodes",
        "accelerator_metrics dra_support driver_runtime_management gpu_sharing virtualized_accelerator "
        "dra kueue quotas dcgmExporter",
        required=True,
        # A node's images, addresses and daemon endpoints cost memory, and heartbeats would wake every profile.
        trim=Trim(status=("allocatable", "capacity", "conditions")),
    ),
    _builtin(
        "v1",
        "pods",
        "pods",
        "accelerator_metrics ai_service_metrics disaggregated_inference gang_scheduling secure_accelerator_access "
        "dcgmExporter",
        required=True,
        trim=Trim(status=("phase", "podIP", "conditions")),
    ),
    _builtin(
        "v1",
        "services",
        "services",
        "advanced_inference_ingress cluster_autoscaling gang_scheduling pod_autoscaling robust_controller",
        required=True,
    ),
    _builtin(
        "apps/v1",
        "deployments",
        "deployments",
        "ai_service_metrics cluster_autoscaling gang_scheduling pod_autoscaling robust_controller keda",
        required=True,
        # A rollout rewrites the rest of the status; kept, each rewrite woke a full pass that changed nothing.
        trim=Trim(status=("availableReplicas",)),
    ),
    _builtin(
        "apps/v1",
        "daemonsets",
        "daemonsets",
        "accelerator_metrics ai_service_metrics driver_runtime_management dcgmExporter",
        required=True,
    ),
    _builtin(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "crds",
        "advanced_inference_ingress ai_inference ai_service_metrics cluster_autoscaling disaggregated_inference "
        "gang_scheduling high_performance_networking pod_autoscaling robust_controller dcgmExporter keda kueue",
        required=True,
        trim=Trim(schemas=False),
    ),
    _builtin("apiregistration.k8s.io/v1", "apiservices", "apiservices", "pod_autoscaling"),
    _builtin(
        "resource.k8s.io/v1",
        "resourceslices",
        "resource_slices",
        "accelerator_metrics dra_support driver_runtime_management gpu_sharing high_performance_networking "
        "virtualized_accelerator dra quotas",
    ),
    _builtin(
        "resource.k8s.io/v1", "deviceclasses", "device_classes", "dra_support gpu_sharing virtualized_accelerator dra"
    ),
    _builtin("autoscaling/v2", "horizontalpodautoscalers", "hpas", "pod_autoscaling keda"),
    _builtin(
        "admissionregistration.k8s.io/v1",
        "validatingadmissionpolicies",
        "validating_admission_policies",
        "secure_accelerator_access",
    ),
    _builtin(
        "admissionregistration.k8s.io/v1",
        "validatingadmissionpolicybindings",
        "validating_admission_policy_bindings",
        "secure_accelerator_access",
    ),
    _builtin(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "validating_webhooks",
        "cluster_autoscaling gang_scheduling pod_autoscaling robust_controller",
    ),
    # Optional stacks: read while their CRD is Established. Those without readers are read by nobody yet; the
    # ones we write (Kueue queues and flavors, ServiceMonitors) are watched so drift on ours wakes the operator.
    # Kueue rewrites a ClusterQueue's status as workloads come and go (pending, admitted, usage per flavor): the
    # checks read its conditions alone, so only a condition's change wakes a pass.
    _stack(
        "kueue.x-k8s.io", "clusterqueues", "gang_scheduling kueue", Trim(status=("conditions", "observedGeneration"))
    ),
    _stack("kueue.x-k8s.io", "localqueues"),
    _stack("kueue.x-k8s.io", "resourceflavors", "kueue"),
    _stack("gateway.networking.k8s.io", "gatewayclasses", "ai_inference"),
    _stack("gateway.networking.k8s.io", "gateways", "ai_inference"),
    _stack("gateway.networking.k8s.io", "httproutes", "advanced_inference_ingress"),
    _stack("inference.networking.k8s.io", "inferencepools", "advanced_inference_ingress"),
    _stack("inference.networking.x-k8s.io", "inferencepools", "advanced_inference_ingress"),  # the pre-GA name
    _stack("monitoring.coreos.com", "servicemonitors"),
    _stack("monitoring.coreos.com", "podmonitors"),
    _stack("monitoring.coreos.com", "prometheuses", "ai_service_metrics"),
    # KEDA rewrites a ScaledObject's status at every poll of its scaler (lastActiveTime, health): kept whole, each
    # woke a pass (run AA: 37 in 30 s at 100 namespaces); the checks read its conditions alone.
    _stack("keda.sh", "scaledobjects", "keda pod_autoscaling", Trim(status=("conditions", "observedGeneration"))),
    _stack("karpenter.sh", "nodepools", "cluster_autoscaling"),
    _stack("ray.io", "rayclusters", "robust_controller"),
    _stack("k8s.cni.cncf.io", "network-attachment-definitions", "high_performance_networking"),
    _stack("nvidia.com", "dynamographdeployments", "disaggregated_inference"),
    # The NVIDIA GPU Operator's ClusterPolicy (nvidia.com/v1, cluster-scoped): whether it runs a DCGM exporter.
    _stack("nvidia.com", "clusterpolicies", "dcgmExporter"),
    _stack("scheduling.volcano.sh", "podgroups", "gang_scheduling"),
    _stack("scheduling.x-k8s.io", "podgroups", "gang_scheduling"),  # scheduler-plugins coscheduling
    # Kinds only the components write: the view keeps ours (the server filters by label: a cluster's ConfigMaps
    # are many and none of our business), so drift on them wakes the profile's daemon. `check` never reads them.
    _ours("v1", "serviceaccounts"),
    _ours("v1", "configmaps"),
    _ours("v1", "resourcequotas"),
    _ours("networking.k8s.io/v1", "networkpolicies"),
    _ours("rbac.authorization.k8s.io/v1", "clusterroles"),
    _ours("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
)

# Pseudo-sources: what a pass reads that no watch delivers. The evaluator tells the view when they change.
SCRAPES = "scrapes"  # Snapshot.scrapes, the DCGM exporter scrapes
SCRAPE_READERS: tuple[str, ...] = ("accelerator_metrics",)  # held by tests/unit/test_source_parity.py

BY_KEY: Mapping[str, Watched] = MappingProxyType({w.key: w for w in SOURCES})
# Who reads each source (and pseudo-source): what a change to it makes a pass redo (operator/incremental.py).
READERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {**{w.key: frozenset(w.readers) for w in SOURCES}, SCRAPES: frozenset(SCRAPE_READERS)}
)
FIXED: tuple[Watched, ...] = tuple(w for w in SOURCES if w.version is not None)  # read wherever served
STACKS: tuple[Watched, ...] = tuple(w for w in SOURCES if w.version is None)  # read once their CRD is Established


# --- versions and paths ---------------------------------------------------------------------------------------

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_STABILITY = {None: 2, "beta": 1, "alpha": 0}


def version_priority(name: str) -> tuple[int, int, int, int, str]:
    """Kubernetes' version order as a sort key, smallest first: v2, v1, v1beta2, v1beta1, v1alpha1, then any
    other name alphabetically."""
    match = _VERSION.match(name)
    if match is None:
        return (1, 0, 0, 0, name)
    major, stability, minor = match.groups()
    return (0, -_STABILITY[stability], -int(major), -int(minor or 0), "")


def preferred_version(crd: Obj) -> str | None:
    """The served version the API server prefers for a CRD (as kopf and kubectl choose it)."""
    spec = crd.get("spec") or {}
    served = [str(v["name"]) for v in spec.get("versions") or [] if v.get("served") and v.get("name")]
    return min(served, key=version_priority) if served else None


def path_of(w: Watched, version: str) -> str:
    """The collection path of `w` at `version`."""
    return f"/api/{version}/{w.plural}" if not w.group else f"/apis/{w.group}/{version}/{w.plural}"


def fixed_paths(table: Iterable[Watched], api_resources: frozenset[str]) -> dict[str, str]:
    """Collection paths of the fixed-version sources the server serves (discovery's "group/version/plural")."""
    out: dict[str, str] = {}
    for w in table:
        if w.version is None:
            continue
        gv = f"{w.group}/{w.version}" if w.group else w.version
        if f"{gv}/{w.plural}" in api_resources:
            out[w.key] = path_of(w, w.version)
    return out


def stack_paths(table: Iterable[Watched], crds: Iterable[Obj]) -> dict[str, str]:
    """Collection paths of optional stacks' sources whose CRD is Established, at its preferred served version."""
    by_name = {str((c.get("metadata") or {}).get("name")): c for c in crds if established(c)}
    out: dict[str, str] = {}
    for w in table:
        crd = by_name.get(w.key) if w.version is None else None
        version = preferred_version(crd) if crd is not None else None
        if version is not None:
            out[w.key] = path_of(w, version)
    return out


def with_kind(items: list[dict[str, Any]], list_kind: str, api_version: str) -> list[dict[str, Any]]:
    """The API server omits kind and apiVersion on the items of a built-in LIST."""
    kind = list_kind.removesuffix("List")
    for item in items:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", api_version)
    return items


# --- why a source could not be read ---------------------------------------------------------------------------


def forbidden(w: Watched, detail: str) -> str:
    return f"forbidden: {detail} (needs list and watch on {w.key})"


def list_failed(detail: str) -> str:
    return f"LIST failed: {detail}"


# --- what is kept ---------------------------------------------------------------------------------------------

_VOLATILE_CONDITION_FIELDS = ("lastHeartbeatTime", "lastProbeTime")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _trim_status(keep: tuple[str, ...], status: Any) -> Any:
    if not isinstance(status, Mapping):
        return status
    out = {k: status[k] for k in keep if k in status}
    if isinstance(out.get("conditions"), list):
        out["conditions"] = [
            {k: v for k, v in c.items() if k not in _VOLATILE_CONDITION_FIELDS} if isinstance(c, Mapping) else c
            for c in out["conditions"]
        ]
    return out


def _drop_schemas(spec: Any) -> Any:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("versions"), list):
        return spec
    versions = [
        {k: v for k, v in ver.items() if k != "schema"} if isinstance(ver, Mapping) else ver for ver in spec["versions"]
    ]
    return {**spec, "versions": versions}


def _our_label_entries(entries: Any, prefix: str | None) -> list[dict[str, Any]]:
    """The Apply entries of managers named `prefix`…, each with its manager, operation and labels alone."""
    if prefix is None or not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("operation") != "Apply":
            continue
        manager = entry.get("manager")
        fields = entry.get("fieldsV1")
        meta = fields.get("f:metadata") if isinstance(fields, Mapping) else None
        labels = meta.get("f:labels") if isinstance(meta, Mapping) else None
        if isinstance(manager, str) and manager.startswith(prefix) and labels:
            out.append({"manager": manager, "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": labels}}})
    return out


def trim(body: Mapping[str, Any], rule: Trim) -> dict[str, Any]:
    """What both the view and `check` keep of an object read from a source with this rule (a new dict; the
    body is not changed)."""
    out = {k: v for k, v in body.items() if k != "metadata"}
    if rule.status is not None and "status" in out:
        out["status"] = _trim_status(rule.status, out["status"])
    if not rule.schemas and "spec" in out:
        out["spec"] = _drop_schemas(out["spec"])
    meta = dict(body.get("metadata") or {})
    meta.pop("resourceVersion", None)
    if "managedFields" in meta:
        kept = _our_label_entries(meta.pop("managedFields"), rule.managed_fields)
        if kept:
            meta["managedFields"] = kept
    annotations = meta.get("annotations")
    if annotations and _LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    out["metadata"] = meta
    return out


def trim_snapshot(snapshot: Snapshot, table: Iterable[Watched] = SOURCES) -> Snapshot:
    """The snapshot with every object trimmed by its source's rule (what the operator's view would hold)."""
    fields: dict[str, Any] = {}
    custom = dict(snapshot.custom)
    for w in table:
        if w.field == CUSTOM and w.key in custom:
            custom[w.key] = tuple(trim(o, w.trim) for o in custom[w.key])
        elif w.field is not None and w.field != CUSTOM:
            fields[w.field] = tuple(trim(o, w.trim) for o in getattr(snapshot, w.field))
    return replace(snapshot, custom=custom, **fields)
