"""KEDA: autoscale every inference Deployment of the tenants on a Prometheus metric, down to zero.

Objects: a ScaledObject (keda.sh/v1alpha1) per Deployment in a tenant namespace whose labels match
`spec.components.keda.inferenceSelector`, named like the Deployment (KEDA's own convention; KEDA then names its
HPA `keda-hpa-<name>`), with `scaleTargetRef` to it, `minReplicaCount`/`maxReplicaCount`, `cooldownPeriod`, and
one `prometheus` trigger:

    sum(<metric>{namespace="<ns>", pod=~"<deployment>-[a-z0-9]+-[a-z0-9]+"})

— the metric summed over the Deployment's pods (pod names are `<deployment>-<replicaset hash>-<suffix>`; the
anchored regex keeps pods of a Deployment named `<deployment>-x` out), with `threshold` (target per replica) and
`activationThreshold` (above which KEDA scales up from zero when minReplicas is 0). The `namespace` and `pod`
labels are the ones Prometheus' Kubernetes service discovery attaches (ServiceMonitor/PodMonitor).

A Deployment that is gone, no longer matches, or is being deleted gets no ScaledObject, so ours is pruned.

Skipped and reported (never fought over):
- a Deployment already scaled by an HPA — except the HPA KEDA itself made for a ScaledObject (owner reference
  to a ScaledObject), which would otherwise make ours disappear the moment KEDA acted on it;
- a Deployment targeted by a ScaledObject that is not ours (no managed-by label, or another profile's).
Without the ScaledObject CRD Established (and keda.sh/v1alpha1 served) nothing is made: "KEDA CRDs not installed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiconform.api.models import KedaSpec, ProfileSpec
from aiconform.components._common import (
    Local,
    Manifest,
    Plan,
    ProfileRef,
    crd_missing,
    is_ours,
    make_plan,
    manifest,
    object_meta,
    tenant_namespaces,
)
from aiconform.conformance.facts import as_list, as_map, labels, meta, name, namespace, spec_of
from aiconform.kube.snapshot import Obj, Snapshot

COMPONENT = "keda"
GROUP_VERSION = "keda.sh/v1alpha1"
CRD = "scaledobjects.keda.sh"
SCALED_OBJECT_KIND = "ScaledObject"


def number(value: float) -> str:
    """Trigger metadata values are strings: 10.0 → "10", 2.5 → "2.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def promql(metric: str, ns: str, deployment: str) -> str:
    """The metric summed over the Deployment's pods (label values escaped for a PromQL string)."""
    pods = deployment.replace(".", "\\\\.")  # a DNS subdomain: only "." is special in a regex
    return f'sum({metric}{{namespace="{ns}",pod=~"{pods}-[a-z0-9]+-[a-z0-9]+"}})'


def _targets_deployment(target: Mapping[str, object], dep_name: str) -> bool:
    kind = str(target.get("kind") or "Deployment")
    api_version = str(target.get("apiVersion") or "apps/v1")
    return kind == "Deployment" and api_version.startswith("apps/") and target.get("name") == dep_name


def _owned_by_scaled_object(obj: Obj) -> bool:
    return any(as_map(o).get("kind") == SCALED_OBJECT_KIND for o in as_list(meta(obj).get("ownerReferences")))


def by_namespace(objects: Iterable[Obj]) -> dict[str, list[Obj]]:
    """Objects grouped by namespace, each group sorted by name: one pass, so a plan over D Deployments and S
    ScaledObjects costs D + S, not D x S (1,000 of each took seconds per pass)."""
    out: dict[str, list[Obj]] = {}
    for obj in sorted(objects, key=name):
        out.setdefault(namespace(obj), []).append(obj)
    return out


def hpa_for(hpas: Mapping[str, list[Obj]], dep: Obj) -> Obj | None:
    """An HPA scaling this Deployment that KEDA did not make for a ScaledObject (`hpas`: by_namespace)."""
    return next(
        (
            h
            for h in hpas.get(namespace(dep), ())
            if _targets_deployment(as_map(spec_of(h).get("scaleTargetRef")), name(dep))
            and not _owned_by_scaled_object(h)
        ),
        None,
    )


def foreign_scaled_object(scaled_objects: Mapping[str, list[Obj]], dep: Obj, ref: ProfileRef) -> Obj | None:
    """A ScaledObject targeting this Deployment that this profile did not make (`scaled_objects`: by_namespace)."""
    return next(
        (
            so
            for so in scaled_objects.get(namespace(dep), ())
            if _targets_deployment(as_map(spec_of(so).get("scaleTargetRef")), name(dep)) and not is_ours(so, ref)
        ),
        None,
    )


def inference_deployments(spec: ProfileSpec, snapshot: Snapshot) -> list[Obj]:
    """Deployments in tenant namespaces matching the inference selector, not being deleted, sorted."""
    tenants = set(tenant_namespaces(spec, snapshot))
    selector = spec.components.keda.inference_selector
    return sorted(
        (
            d
            for d in snapshot.deployments
            if namespace(d) in tenants and selector.matches(labels(d)) and not meta(d).get("deletionTimestamp")
        ),
        key=lambda d: (namespace(d), name(d)),
    )


def scaled_object(keda: KedaSpec, dep: Obj, ref: ProfileRef) -> Manifest:
    ns, dep_name = namespace(dep), name(dep)
    trigger_metadata = {
        "serverAddress": keda.prometheus_address,
        "query": promql(keda.metric, ns, dep_name),
        "threshold": number(keda.threshold),
        "activationThreshold": number(keda.activation_threshold),
    }
    return manifest(
        SCALED_OBJECT_KIND,
        object_meta(ref, COMPONENT, dep_name, ns),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep_name},
            "minReplicaCount": keda.min_replicas,
            "maxReplicaCount": keda.max_replicas,
            "cooldownPeriod": keda.cooldown_seconds,
            "triggers": [{"type": "prometheus", "metadata": trigger_metadata}],
        },
    )


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    missing = crd_missing(snapshot, (CRD,), GROUP_VERSION)
    if missing:
        return make_plan(notes=[f"KEDA CRDs not installed ({missing}): no ScaledObject created"])
    keda = spec.components.keda
    objects: list[Manifest] = []
    notes: list[str] = []
    skipped: list[str] = []
    hpas, scaled_objects = by_namespace(snapshot.hpas), by_namespace(snapshot.objects(CRD))
    for dep in inference_deployments(spec, snapshot):
        dep_ref = f"{namespace(dep)}/{name(dep)}"
        hpa = hpa_for(hpas, dep)
        foreign = None if hpa else foreign_scaled_object(scaled_objects, dep, ref)
        if hpa is not None:
            notes.append(
                Local(f"Deployment {dep_ref} has an HPA ({name(hpa)}): no ScaledObject created", namespace(dep))
            )
        elif foreign is not None:
            notes.append(
                Local(
                    f"Deployment {dep_ref} is scaled by ScaledObject {name(foreign)} not managed by this profile: "
                    "no ScaledObject created",
                    namespace(dep),
                )
            )
        else:
            objects.append(scaled_object(keda, dep, ref))
            continue
        skipped.append(f"ScaledObject/{dep_ref}")
    return make_plan(objects, notes=notes, skipped=skipped)
