"""advanced_inference_ingress (KAR-0011; SHOULD since 1.36).

Asks: support an implementation of the Gateway API Inference Extension (GAIE) that routes requests to models
hosted on Kubernetes, with model-aware routing (e.g. K/V-cache aware) based on metrics the serving platform
advertises.

We verify:
- the CRD `inferencepools.inference.networking.k8s.io` (v1; the older `inference.networking.x-k8s.io` group is
  accepted too) is Established, else Not Implemented `CRDsMissing`;
- at least one InferencePool exists (`NoInferencePool`);
- some HTTPRoute has a backendRef of kind `InferencePool` naming an existing pool (`NoInferencePoolRoute`);
- each routed pool's endpoint picker Service (`spec.endpointPickerRef`, v1alpha2 `spec.extensionRef`) exists
  (`EndpointPickerMissing`).
CRD installed but not wired up: Partially Implemented. Everything wired: Implemented, `APIVerified`. The GAIE
conformance suite (real routing decisions) is a workload test this check does not run.

Snapshot: `custom["inferencepools.inference.networking.k8s.io"]` (or the x-k8s.io key) and
`custom["httproutes.gateway.networking.k8s.io"]`; `services`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    as_list,
    as_map,
    capped,
    crd_established,
    name,
    names_list,
    namespace,
    plural,
    ref,
    spec_of,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    ENDPOINT_PICKER_MISSING,
    IMPLEMENTED,
    NO_INFERENCE_POOL,
    NO_INFERENCE_POOL_ROUTE,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "advanced_inference_ingress"
POOL_CRDS = ("inferencepools.inference.networking.k8s.io", "inferencepools.inference.networking.x-k8s.io")
HTTPROUTES = "httproutes.gateway.networking.k8s.io"


def _routed_pools(snapshot: Snapshot) -> dict[tuple[str, str], str]:
    """(namespace, pool name) → the HTTPRoute referencing it."""
    out: dict[tuple[str, str], str] = {}
    for route in sorted(snapshot.objects(HTTPROUTES), key=lambda r: (namespace(r), name(r))):
        for rule in as_list(spec_of(route).get("rules")):
            for backend in as_list(as_map(rule).get("backendRefs")):
                backend = as_map(backend)
                if backend.get("kind") == "InferencePool":
                    key = (str(backend.get("namespace") or namespace(route)), str(backend.get("name", "")))
                    out.setdefault(key, ref("HTTPRoute", route))
    return out


def _picker(pool: Obj) -> str:
    pool_spec = spec_of(pool)
    return str(as_map(pool_spec.get("endpointPickerRef") or pool_spec.get("extensionRef")).get("name", ""))


def _partial(reason: str, message: str, evidence: list[str]) -> Verdict:
    return Verdict(ID, PARTIAL, reason, message, capped(evidence))


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    crd = next((c for c in POOL_CRDS if crd_established(snapshot, c)), None)
    if crd is None:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            f"CRD {POOL_CRDS[0]} is not installed or not Established: install a Gateway API Inference Extension "
            "implementation (InferencePool CRD, endpoint picker and a GAIE-capable Gateway)",
        )
    evidence = [f"CRD {crd} Established"]
    pools = sorted(snapshot.objects(crd), key=lambda p: (namespace(p), name(p)))
    if not pools:
        return _partial(NO_INFERENCE_POOL, f"CRD {crd} is installed but no InferencePool exists", evidence)
    routes = _routed_pools(snapshot)
    routed = [p for p in pools if (namespace(p), name(p)) in routes]
    if not routed:
        return _partial(
            NO_INFERENCE_POOL_ROUTE,
            "no HTTPRoute has a backendRef of kind InferencePool for "
            + names_list(ref("InferencePool", p) for p in pools),
            evidence + [ref("InferencePool", p) for p in pools],
        )
    services = {(namespace(s), name(s)) for s in snapshot.services}
    evidence += [f"{routes[(namespace(p), name(p))]} -> {ref('InferencePool', p)}" for p in routed]
    no_picker = [p for p in routed if (namespace(p), _picker(p)) not in services]
    if no_picker:
        missing = (f"{ref('InferencePool', p)} (Service {_picker(p) or 'unset'})" for p in no_picker)
        return _partial(ENDPOINT_PICKER_MISSING, f"endpoint picker Service missing for {names_list(missing)}", evidence)
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{plural(len(routed), 'InferencePool')} routed by HTTPRoutes with their endpoint picker Services "
        f"({names_list(ref('InferencePool', p) for p in routed)}); the GAIE conformance suite is a workload test",
        capped(evidence),
    )
