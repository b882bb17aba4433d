"""The one registry of kinds: where each kind lives in the API, its scope, the version we write it at, and for the
kinds the operator manages, the order they are applied in.

Identity is (group, kind, namespace, name), without the version: the watches see a custom resource at its CRD's
preferred served version while we write it at a fixed one, and the same object must never look like two (the
applier would prune "its old one" and create "a new one" on every pass once Kueue moves its preferred version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Ident = tuple[str, str, str, str]  # group ("" for the core group), kind, namespace ("" when cluster-scoped), name


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the core group
    version: str  # the version we write (and the client addresses) it at
    kind: str
    plural: str
    namespaced: bool
    managed: bool = False  # a kind the components make: the applier may create, update and prune it

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _k(api_version: str, kind: str, plural: str, namespaced: bool, managed: bool = False) -> KindInfo:
    group, _, version = api_version.rpartition("/")
    return KindInfo(group, version, kind, plural, namespaced, managed)


# Managed kinds in the order they are applied: namespaces first (what lives in them needs them), cluster-scoped
# policy before its bindings, configuration before the workloads that mount it, ClusterQueue before the LocalQueues
# that point at it. Deletion goes in reverse.
MANAGED_KINDS: tuple[KindInfo, ...] = (
    _k("v1", "Namespace", "namespaces", False, True),
    _k("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False, True),
    _k("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False, True),
    _k("resource.k8s.io/v1", "DeviceClass", "deviceclasses", False, True),
    _k("kueue.x-k8s.io/v1beta2", "ResourceFlavor", "resourceflavors", False, True),
    _k("kueue.x-k8s.io/v1beta2", "ClusterQueue", "clusterqueues", False, True),
    _k("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False, True),
    _k(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
        True,
    ),
    _k("v1", "ServiceAccount", "serviceaccounts", True, True),
    _k("v1", "ConfigMap", "configmaps", True, True),
    _k("v1", "ResourceQuota", "resourcequotas", True, True),
    _k("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, True),
    _k("kueue.x-k8s.io/v1beta2", "LocalQueue", "localqueues", True, True),
    _k("v1", "Service", "services", True, True),
    _k("apps/v1", "DaemonSet", "daemonsets", True, True),
    _k("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors", True, True),
    _k("keda.sh/v1alpha1", "ScaledObject", "scaledobjects", True, True),
)

# Kinds the client addresses but the operator never manages: what the dev tools, the bench and the tests write,
# what other controllers make from ours (never ours to prune), and the profile itself.
OTHER_KINDS: tuple[KindInfo, ...] = (
    _k("v1", "Node", "nodes", False),
    _k("v1", "Pod", "pods", True),
    _k("v1", "Secret", "secrets", True),
    _k("v1", "Endpoints", "endpoints", True),
    _k("apps/v1", "Deployment", "deployments", True),
    _k("apps/v1", "ReplicaSet", "replicasets", True),
    _k("batch/v1", "Job", "jobs", True),
    _k("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    _k("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    _k("resource.k8s.io/v1", "ResourceSlice", "resourceslices", False),
    _k("resource.k8s.io/v1", "ResourceClaim", "resourceclaims", True),
    _k("resource.k8s.io/v1", "ResourceClaimTemplate", "resourceclaimtemplates", True),
    _k("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    _k("kueue.x-k8s.io/v1beta2", "Workload", "workloads", True),
    _k("aiconform.io/v1alpha1", "ConformanceProfile", "conformanceprofiles", False),
)

KINDS: tuple[KindInfo, ...] = MANAGED_KINDS + OTHER_KINDS
_BY_GROUP_KIND: Mapping[tuple[str, str], KindInfo] = MappingProxyType({(k.group, k.kind): k for k in KINDS})
_MANAGED_RANK: Mapping[str, int] = MappingProxyType({k.kind: i for i, k in enumerate(MANAGED_KINDS)})
# Kinds that appear as field patches (partial objects owned field by field, never as a whole).
FIELD_PATCH_KINDS = frozenset({"Namespace"})


def group_of(api_version: str) -> str:
    """`apps/v1` → `apps`, `v1` → `` (the core group)."""
    group, _, _ = str(api_version).rpartition("/")
    return group


def lookup(api_version: str, kind: str) -> KindInfo | None:
    """The registry entry of a kind, at any version of it; None for a kind we do not know."""
    return by_group(group_of(api_version), kind)


def by_group(group: str, kind: str) -> KindInfo | None:
    return _BY_GROUP_KIND.get((group, kind))


def managed_kind(kind: str) -> KindInfo:
    """The entry of a kind the components make (KeyError for any other)."""
    return MANAGED_KINDS[_MANAGED_RANK[kind]]


def is_managed(obj: Mapping[str, Any]) -> bool:
    info = lookup(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    return info is not None and info.managed


def partition_of(ident: Ident) -> str:
    """Where an object belongs when a pass redoes one namespace: its namespace, a Namespace's own name, "" for
    everything else cluster-scoped."""
    _, kind, namespace, name = ident
    return name if kind == "Namespace" and not namespace else namespace


def ident_of(obj: Mapping[str, Any]) -> Ident:
    """(group, kind, namespace, name): the same object whatever version it was read or written at."""
    meta = obj.get("metadata") or {}
    return (
        group_of(str(obj.get("apiVersion") or "")),
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def apply_rank(kind: str) -> int:
    """Position in the apply order; kinds we do not manage go last."""
    return _MANAGED_RANK.get(kind, len(MANAGED_KINDS))


def apply_order_key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    meta = obj.get("metadata") or {}
    return (apply_rank(str(obj.get("kind"))), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def apply_order(objects: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Objects sorted the way they should be applied (namespaces first); reverse it to delete."""
    return sorted(objects, key=apply_order_key)


PROFILE_KIND = "ConformanceProfile"


def profile_owner_uids(obj: Mapping[str, Any]) -> tuple[list[str], int]:
    """The uids of the ConformanceProfiles among an object's owners, and how many other owners it has."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    ours = [
        str(r.get("uid"))
        for r in refs
        if r.get("kind") == PROFILE_KIND and group_of(r.get("apiVersion", "")) == "aiconform.io"
    ]
    return ours, len(refs) - len(ours)


def ownership(obj: Mapping[str, Any], profile_uid: str) -> str:
    """Whose an object is, for the profile with `profile_uid`: "ours", "adopted" or "foreign".

    Ours only if we made it: a kind the components make, owned by this very profile (the owner reference our
    create set), and by nothing else. Labels never decide it: KEDA copies a ScaledObject's labels (ours
    included) onto the HPA it makes, Helm and Argo CD set labels too. An object of ours that another controller
    has since taken as an owner is "adopted": left alone and reported, never updated or pruned."""
    return Owners.of(obj).ownership(profile_uid)


@dataclass(frozen=True, slots=True)
class Owners:
    """What decides whose an object is (`ownership`), taken from it once: the view keeps this beside objects it
    holds encoded, so finding a profile's objects decodes none."""

    managed: bool  # a kind the components make
    profiles: tuple[str, ...]  # uids of the ConformanceProfiles among its owners
    others: int  # how many other owners it has

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Owners:
        profiles, others = profile_owner_uids(obj)
        return cls(is_managed(obj), tuple(profiles), others)

    def ownership(self, profile_uid: str) -> str:
        if not self.managed or profile_uid not in self.profiles:
            return "foreign"
        return "adopted" if self.others or len(self.profiles) > 1 else "ours"
