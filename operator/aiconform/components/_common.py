"""Vocabulary shared by the component modules: the profile reference, the Plan, ownership metadata, names,
label selectors and the order objects are applied in.

Everything here is pure; see the package docstring (`aiconform.components`) for the contract with the applier.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiconform.api.constants import (
    API_VERSION,
    KIND,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_PROFILE,
    MANAGED_BY_VALUE,
)
from aiconform.api.models import LabelSelector, ProfileSpec, Toleration
from aiconform.conformance.facts import crd_problems, labels, meta, name
from aiconform.kube import kinds
from aiconform.kube.records import json_default
from aiconform.kube.snapshot import Obj, Snapshot

Manifest = dict[str, Any]

LABEL_NAME = "app.kubernetes.io/name"
LABEL_NS_NAME = "kubernetes.io/metadata.name"  # set by the API server on every namespace
NAME_PREFIX = "aiconform-"

# Pod Security admission labels (https://kubernetes.io/docs/concepts/security/pod-security-admission/).
PSA_PREFIX = "pod-security.kubernetes.io/"
PSA_ENFORCE = f"{PSA_PREFIX}enforce"


# ---------------------------------------------------------------------------------------------------------------
# Plan


@dataclass(frozen=True)
class ProfileRef:
    """The ConformanceProfile the objects belong to: its name (for the profile label) and uid (owner ref)."""

    name: str
    uid: str


class Blocked(str):
    """A note saying the component cannot do its work until something outside it is fixed: its CRDs are absent,
    there is no accelerator node, or what the platform provides in its place falls short of the profile (with the
    field to set). The component's state is `Blocked` (operator/reconciler._state), never `Ready`."""

    __slots__ = ()


class Local(str):
    """A note about one namespace (e.g. a tenant's Deployment left to its own HPA). Re-rendering that namespace
    alone (components.TENANT_LOCAL) replaces its local notes; every other note must not depend on any one
    namespace's objects."""

    namespace: str

    def __new__(cls, text: str, namespace: str) -> Local:
        note = super().__new__(cls, text)
        note.namespace = namespace
        return note


class Provided(str):
    """A note naming something the platform already provides and aiconform verified and uses instead of making
    its own (the NVIDIA DRA driver's DeviceClasses, the GPU Operator's DCGM exporter, an adopted ClusterQueue).
    With nothing pending and nothing blocked, the component's state is `Provided`."""

    __slots__ = ()


@dataclass(frozen=True)
class Plan:
    """What one component wants to exist.

    - `objects`: full manifests we own (ownership labels, owner reference), in apply order.
    - `field_patches`: partial objects we do NOT own (labels on a user's Namespace): server-side applied as a
      field-level owner, never created, never given our labels or owner reference, never deleted.
    - `notes`: human-readable things to report (why something was not made, what is in the way).
    - `skipped`: `Kind/namespace/name` (or `Kind/name`) of objects we would have made but did not, one per note
      where a single object is concerned.

    Two kinds of note carry the component's state to the reconciler, which sees only the notes: `Blocked` (a
    missing prerequisite: state `Blocked`) and `Provided` (what the platform provides in our place: state
    `Provided`). `blocked` and `provided` read them back.
    """

    objects: tuple[Manifest, ...] = ()
    field_patches: tuple[Manifest, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def blocked(self) -> str | None:
        """Why the component cannot do its work (the Blocked notes), or None."""
        found = [n for n in self.notes if isinstance(n, Blocked)]
        return "; ".join(found) if found else None

    @property
    def provided(self) -> tuple[str, ...]:
        """What the platform provides in the component's place, verified."""
        return tuple(n for n in self.notes if isinstance(n, Provided))


EMPTY_PLAN = Plan()


apply_order = kinds.apply_order
apply_order_key = kinds.apply_order_key


def _plain(obj: Manifest) -> Manifest:
    out: Manifest = json.loads(json.dumps(obj, default=json_default))  # a map read from the view is a record
    return out


def make_plan(
    objects: Iterable[Manifest] = (),
    field_patches: Iterable[Manifest] = (),
    notes: Iterable[str] = (),
    skipped: Iterable[str] = (),
    *,
    blocked: Iterable[str] = (),
    provided: Iterable[str] = (),
) -> Plan:
    """A Plan with everything in a deterministic order (objects in apply order; notes: the `blocked` reasons,
    then what is `provided`, then the others as given). Objects go through JSON: they are plain JSON data, and
    no two places share a nested dict (a caller mutating one never changes another; YAML renders no anchors)."""
    return Plan(
        objects=tuple(apply_order(_plain(o) for o in objects)),
        field_patches=tuple(sorted((_plain(p) for p in field_patches), key=apply_order_key)),
        notes=(*(Blocked(b) for b in blocked), *(Provided(p) for p in provided), *notes),
        skipped=tuple(skipped),
    )


# ---------------------------------------------------------------------------------------------------------------
# Ownership metadata


def managed_labels(ref: ProfileRef, component: str) -> dict[str, str]:
    """The labels every object we own carries: managed-by, the profile, the component that made it."""
    return {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: ref.name, LABEL_COMPONENT: component}


def owner_reference(ref: ProfileRef) -> dict[str, Any]:
    """Controller reference to the (cluster-scoped) profile; blockOwnerDeletion false: the operator needs no
    `update` on the profile's finalizers to create it, and deleting the profile never waits on children."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": ref.name,
        "uid": ref.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def object_meta(
    ref: ProfileRef,
    component: str,
    obj_name: str,
    namespace: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """metadata of an object we own. `extra_labels` never override the ownership labels."""
    out: dict[str, Any] = {"name": obj_name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = {**dict(extra_labels or {}), **managed_labels(ref, component)}
    out["ownerReferences"] = [owner_reference(ref)]
    return out


def manifest(kind: str, metadata: dict[str, Any], **body: Any) -> Manifest:
    """A full manifest: apiVersion from the kinds registry, then metadata and the given top-level fields."""
    return {"apiVersion": kinds.managed_kind(kind).api_version, "kind": kind, "metadata": metadata, **body}


def api_served(snapshot: Snapshot, group_version: str, plural: str) -> bool:
    """Served per discovery; a snapshot without discovery data (tests, a failed discovery) counts as served, so
    missing data never makes us prune what exists."""
    return not snapshot.api_resources or snapshot.served(group_version, plural)


def crd_missing(snapshot: Snapshot, crd_names: Sequence[str], group_version: str) -> str | None:
    """Why custom resources of `group_version` cannot be written (a CRD absent or not Established, or the
    version not served), or None when they can."""
    problems = crd_problems(snapshot, crd_names)
    if problems:
        return f"CRDs not installed: {', '.join(problems)}"
    plural, _, _group = crd_names[0].partition(".")
    if not api_served(snapshot, group_version, plural):
        return f"{group_version} is not served (the installed CRDs have no such version)"
    return None


def tenant_namespaces(spec: ProfileSpec, snapshot: Snapshot) -> list[str]:
    """Names of the namespaces spec.tenants selects, sorted; terminating ones left out (nothing can be created
    in them, and what we had there goes away with them)."""
    selector = spec.tenants.namespace_selector
    return sorted(name(ns) for ns in snapshot.namespaces if selector.matches(labels(ns)) and not _terminating(ns))


def _terminating(ns: Obj) -> bool:
    status = ns.get("status")
    phase = status.get("phase") if isinstance(status, Mapping) else None
    return bool(meta(ns).get("deletionTimestamp")) or phase == "Terminating"


def is_ours(obj: Obj, ref: ProfileRef) -> bool:
    """Made by this profile and owned by nothing else (kube.kinds.ownership): labels alone are copied by other
    controllers and never make an object ours."""
    return kinds.ownership(obj, ref.uid) == "ours"


def namespace_labels_patch(ns_name: str, ns_labels: Mapping[str, str]) -> Manifest:
    """A field patch: only these labels on a namespace someone else owns."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_name, "labels": dict(ns_labels)}}


def owned_namespace(
    ref: ProfileRef, component: str, snapshot: Snapshot, ns_name: str, ns_labels: Mapping[str, str]
) -> tuple[list[Manifest], list[Manifest], list[str]]:
    """A namespace we create for our own workloads, with `ns_labels` (e.g. Pod Security `privileged`).

    Returns (objects, field_patches, notes): a Namespace object we own, unless a namespace of that name already
    exists and is not ours; then only its labels are set as a field patch (never the whole object: deleting
    the profile must not delete a namespace someone else made) and a note says so.
    """
    existing = next((ns for ns in snapshot.namespaces if name(ns) == ns_name), None)
    if existing is not None and not is_ours(existing, ref):
        note = f"Namespace/{ns_name} exists and is not managed by aiconform: only its labels are set"
        return [], [namespace_labels_patch(ns_name, ns_labels)], [note]
    return [manifest("Namespace", object_meta(ref, component, ns_name, extra_labels=ns_labels))], [], []


# ---------------------------------------------------------------------------------------------------------------
# Names

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns1123_label(text: str) -> bool:
    return bool(_DNS1123_LABEL.match(text))


def is_dns1123_subdomain(text: str) -> bool:
    return len(text) <= 253 and bool(_DNS1123_SUBDOMAIN.match(text))


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns1123_label(text: str, max_length: int = 63) -> str:
    """A stable DNS-1123 label from any text: lower-cased, other characters to '-', runs collapsed.

    Too long (or nothing left): cut and suffixed with a hash of the original text, so distinct inputs stay
    distinct. `NVIDIA-H100-80GB-HBM3` → `nvidia-h100-80gb-hbm3`.
    """
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")
    if slug and len(slug) <= max_length:
        return slug
    suffix = short_hash(text)
    head = slug[: max_length - len(suffix) - 1].strip("-")
    return f"{head}-{suffix}" if head else suffix


# ---------------------------------------------------------------------------------------------------------------
# Selectors and scheduling


def selector_dict(selector: LabelSelector) -> dict[str, Any]:
    """A metav1.LabelSelector as the API wants it; empty parts left out (`{}` selects everything)."""
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(sorted(selector.match_labels.items()))
    if selector.match_expressions:
        out["matchExpressions"] = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
            for e in selector.match_expressions
        ]
    return out


def toleration_dict(toleration: Toleration) -> dict[str, str]:
    """A core/v1 Toleration with empty fields left out."""
    out = {"key": toleration.key, "operator": toleration.operator, "value": toleration.value}
    out["effect"] = toleration.effect
    return {k: v for k, v in out.items() if v}


def node_scheduling(node_selector: Mapping[str, str], selector: LabelSelector | None) -> dict[str, Any]:
    """Pod spec fields that pin pods to the nodes: `nodeSelector`, plus a required node affinity carrying the
    selector's matchExpressions (a nodeSelector cannot express them)."""
    out: dict[str, Any] = {}
    if node_selector:
        out["nodeSelector"] = dict(sorted(node_selector.items()))
    if selector is not None and selector.match_expressions:
        terms = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
            for e in selector.match_expressions
        ]
        out["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": terms}]}
            }
        }
    return out


def sorted_names(items: Iterable[str]) -> list[str]:
    return sorted(set(items))


def dedupe(items: Sequence[str]) -> list[str]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
