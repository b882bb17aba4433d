"""Components: the AI stack a ConformanceProfile keeps in place, as pure functions from (profile spec, snapshot)
to the objects that should exist. One module per component; the applier (aiconform.operator.applier) makes it so.

    desired(spec, snapshot, ProfileRef(name, uid)) -> {component: Plan}

`COMPONENTS` holds every component in a fixed order (dra, kueue, keda, dcgmExporter, quotas, networkPolicies,
seccomp). `desired` returns a Plan for each of them: a disabled component's Plan is empty, so whatever it made
before is pruned.

A Plan (see `Plan`) has four parts:

- `objects`: complete manifests we own. Each has apiVersion, kind, metadata.name (and metadata.namespace when
  namespaced), the labels `app.kubernetes.io/managed-by: aiconform`, `aiconform.io/profile: <profile>` and
  `app.kubernetes.io/component: <component>`, and one owner reference to the profile (controller: true,
  blockOwnerDeletion: false). The profile's own labels are never copied. Names are fixed and deterministic;
  cluster-scoped objects are prefixed `aiconform-`, except where a name is an API contract chosen by a vendor
  (DeviceClasses `gpu.nvidia.com`, `mig.nvidia.com`, ...) or by the user (the ClusterQueue name) or derived
  from the cluster (a ResourceFlavor per GPU product). Objects come in apply order: see `aiconform.kube.kinds`.
- `field_patches`: partial objects we must NOT own as a whole — today only `v1/Namespace` with
  `metadata: {name, labels}` (Pod Security labels on tenant namespaces, or on an existing namespace of ours that
  someone else created). The applier server-side applies them with field manager `aiconform`, so we own just
  those label fields; it never creates the target (a namespace that does not exist is skipped), never adds our
  ownership labels or an owner reference, and never deletes it. When a patch disappears from the plan (the
  namespace stops being a tenant, the component is disabled), the applier applies `{name}` alone under the same
  field manager, which releases (removes) the labels we set and leaves everyone else's.
- `notes`: sentences to report in the component's status (why something was not made: "KEDA CRDs not installed",
  "Deployment ns/x has an HPA (x): no ScaledObject created", a namespace we could only label, ...). Notes do not
  mean failure; the component can be Ready with notes. Two kinds of note set its state: `Blocked` (a missing
  prerequisite, or what the platform provides falls short: state `Blocked`, never `Ready`) and `Provided` (what
  the platform already provides, verified and used instead of ours: state `Provided`).
- `skipped`: `Kind/namespace/name` of objects we would have made but did not because something else is in the
  way (an HPA, a foreign ScaledObject) or a prerequisite is missing (the ServiceMonitor CRD).

Apply order across plans: every Namespace first (objects of other kinds may live in it), then the order of
`aiconform.kube.kinds.MANAGED_KINDS`; `apply_order()` sorts any list of objects so, and deletion should go in
reverse. Output is deterministic (sorted objects, sorted map keys are the serializer's job) so golden files are stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aiconform.api.constants import LABEL_COMPONENT
from aiconform.api.models import (
    DcgmExporterSpec,
    DraSpec,
    KedaSpec,
    KueueSpec,
    NetworkPoliciesSpec,
    ProfileSpec,
    QuotasSpec,
    SeccompSpec,
)
from aiconform.components import dcgm_exporter, dra, keda, kueue, network_policies, quotas, seccomp
from aiconform.components._common import (
    EMPTY_PLAN,
    Blocked,
    Local,
    Manifest,
    Plan,
    ProfileRef,
    Provided,
    apply_order,
    managed_labels,
    owner_reference,
)
from aiconform.kube.snapshot import Snapshot

__all__ = [
    "COMPONENTS",
    "EMPTY_PLAN",
    "LABEL_COMPONENT",
    "TENANT_LOCAL",
    "Blocked",
    "Local",
    "Manifest",
    "Plan",
    "PlanFn",
    "ProfileRef",
    "Provided",
    "Split",
    "apply_order",
    "desired",
    "enabled",
    "managed_labels",
    "owner_reference",
    "tenant_local",
]

ComponentBlock = DraSpec | KueueSpec | KedaSpec | DcgmExporterSpec | QuotasSpec | NetworkPoliciesSpec | SeccompSpec
PlanFn = Callable[[ProfileSpec, Snapshot, ProfileRef], Plan]

COMPONENTS: Mapping[str, PlanFn] = MappingProxyType(
    {
        "dra": dra.plan,
        "kueue": kueue.plan,
        "keda": keda.plan,
        "dcgmExporter": dcgm_exporter.plan,
        "quotas": quotas.plan,
        "networkPolicies": network_policies.plan,
        "seccomp": seccomp.plan,
    }
)


@dataclass(frozen=True)
class Split:
    """How a component's plan splits by tenant namespace (TENANT_LOCAL)."""

    applies: Callable[[ProfileSpec], bool]
    # The cluster-scoped Snapshot fields and custom keys its namespace part reads (None: all of them); CRDs,
    # discovery and the server version are always there.
    cluster_reads: frozenset[str] | None = frozenset()


# Components whose plan splits by tenant namespace: what they render in a namespace depends on the spec, that
# Namespace, the namespaced objects in it and the cluster-scoped data `cluster_reads` names; their cluster-scoped
# objects and their notes (but `Local` ones) depend on no namespace's objects. A change inside one namespace then
# re-renders that namespace alone, from `kube.snapshot.within` (tests/unit/components/
# test_component_tenant_local.py holds each to it). Kueue adopting an existing ClusterQueue does not split: its
# notes count the tenants the queue admits.
TENANT_LOCAL: Mapping[str, Split] = MappingProxyType(
    {
        "kueue": Split(lambda spec: not spec.components.kueue.existing_cluster_queue),
        "keda": Split(lambda spec: True),
        "quotas": Split(lambda spec: True, None),  # DRA device counts follow the DeviceClasses and nodes
        "networkPolicies": Split(lambda spec: True),
        "seccomp": Split(lambda spec: True),
    }
)


def tenant_local(spec: ProfileSpec, component: str) -> bool:
    split = TENANT_LOCAL.get(component)
    return split is not None and split.applies(spec)


def enabled(spec: ProfileSpec, component: str) -> bool:
    """Whether spec.components.<component>.enabled (component as in COMPONENTS: camelCase)."""
    c = spec.components
    blocks: dict[str, ComponentBlock] = {
        "dra": c.dra,
        "kueue": c.kueue,
        "keda": c.keda,
        "dcgmExporter": c.dcgm_exporter,
        "quotas": c.quotas,
        "networkPolicies": c.network_policies,
        "seccomp": c.seccomp,
    }
    return blocks[component].enabled


def desired(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> dict[str, Plan]:
    """A Plan per component, in COMPONENTS order; only enabled components are computed, the others are empty."""
    return {
        component: plan_fn(spec, snapshot, ref) if enabled(spec, component) else EMPTY_PLAN
        for component, plan_fn in COMPONENTS.items()
    }
