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
  (`EndpointPickerMissing`);
- the Gateway implementation took the route: a parent in the HTTPRoute's `status.parents` reports `Accepted=True`
  at the route's current generation and does not report `ResolvedRefs=False` (it resolved the InferencePool
  backend). A route without parent status or with a stale one is `CRsNotReconciled`; `Accepted=False` or
  `ResolvedRefs=False` is `NoInferencePoolRoute`; both name the route in faults.

Verdicts:
- Implemented (tier ControllerStatus): a routed pool with its picker Service whose route a Gateway accepted at
  its current generation. The GAIE conformance suite (real routing decisions) is a workload test, not run.
- Partially Implemented: CRD installed but not wired up (`NoInferencePool`, `NoInferencePoolRoute`,
  `EndpointPickerMissing`, tier APIPresence), or the route not accepted by a Gateway (`CRsNotReconciled`,
  `NoInferencePoolRoute`, the routes named in faults).
- Not Implemented: `CRDsMissing`.
- Unknown (`Unreadable`): not Implemented and crds, inferencepools, httproutes or services could not be listed.
- N/A: never (declare it when the platform does not offer the capability).

Snapshot: `custom["inferencepools.inference.networking.k8s.io"]` (or the x-k8s.io key) and
`custom["httproutes.gateway.networking.k8s.io"]`; `crds`, `services`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    Judged,
    as_list,
    as_map,
    capped,
    condition_detail,
    crd_established,
    generation,
    name,
    names_list,
    namespace,
    plural,
    ref,
    spec_of,
    status_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    CRS_NOT_RECONCILED,
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
SOURCES = ("crds", "services", *POOL_CRDS, HTTPROUTES)


def _routed_pools(snapshot: Snapshot) -> dict[tuple[str, str], Obj]:
    """(namespace, pool name) → the HTTPRoute referencing it."""
    out: dict[tuple[str, str], Obj] = {}
    for route in sorted(snapshot.objects(HTTPROUTES), key=lambda r: (namespace(r), name(r))):
        for rule in as_list(spec_of(route).get("rules")):
            for backend in as_list(as_map(rule).get("backendRefs")):
                backend = as_map(backend)
                if backend.get("kind") == "InferencePool":
                    key = (str(backend.get("namespace") or namespace(route)), str(backend.get("name", "")))
                    out.setdefault(key, route)
    return out


def judge_route(route: Obj) -> Judged:
    """An HTTPRoute by the parent statuses Gateway implementations write on it."""
    route_ref = ref("HTTPRoute", route)
    parents = [as_map(p) for p in as_list(status_of(route).get("parents"))]
    if not parents:
        return Judged(route_ref, "unreconciled", "has no parent status (no Gateway implementation took it)")
    current = generation(route)
    stale = ""
    failures: list[str] = []
    for parent in parents:
        parent_name = str(as_map(parent.get("parentRef")).get("name", "?"))
        holder = {"status": {"conditions": parent.get("conditions") or []}, "metadata": {}}
        accepted = next(
            (as_map(c) for c in as_list(parent.get("conditions")) if as_map(c).get("type") == "Accepted"), None
        )
        if accepted is None:
            failures.append(f"parent {parent_name}: no Accepted condition")
            continue
        observed = accepted.get("observedGeneration")
        if current is not None and isinstance(observed, int) and observed < current:
            stale = f"parent {parent_name}: Accepted at observedGeneration {observed} < generation {current}"
            continue
        refs = next(
            (as_map(c) for c in as_list(parent.get("conditions")) if as_map(c).get("type") == "ResolvedRefs"), None
        )
        if str(accepted.get("status")) != "True":
            failures.append(f"parent {parent_name}: {condition_detail(holder, 'Accepted')}")
        elif refs is not None and str(refs.get("status")) == "False":
            failures.append(f"parent {parent_name}: {condition_detail(holder, 'ResolvedRefs')}")
        else:
            return Judged(route_ref, "live", f"Accepted=True by parent {parent_name}")
    if failures:
        return Judged(route_ref, "failed", "; ".join(failures))
    return Judged(route_ref, "stale", f"status is not current ({stale})")


def _picker(pool: Obj) -> str:
    pool_spec = spec_of(pool)
    return str(as_map(pool_spec.get("endpointPickerRef") or pool_spec.get("extensionRef")).get("name", ""))


def _partial(reason: str, message: str, evidence: list[str]) -> Verdict:
    return Verdict(ID, PARTIAL, reason, message, capped(evidence))


def _judge(snapshot: Snapshot) -> Verdict:
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
    evidence += [f"{ref('HTTPRoute', routes[(namespace(p), name(p))])} -> {ref('InferencePool', p)}" for p in routed]
    no_picker = [p for p in routed if (namespace(p), _picker(p)) not in services]
    if no_picker:
        missing = (f"{ref('InferencePool', p)} (Service {_picker(p) or 'unset'})" for p in no_picker)
        return _partial(ENDPOINT_PICKER_MISSING, f"endpoint picker Service missing for {names_list(missing)}", evidence)
    judged = {ref("InferencePool", p): judge_route(routes[(namespace(p), name(p))]) for p in routed}
    live = [pool for pool, j in judged.items() if j.outcome == "live"]
    if not live:
        bad = list({j.ref: j for j in judged.values()}.values())
        reason = NO_INFERENCE_POOL_ROUTE if any(j.outcome == "failed" for j in bad) else CRS_NOT_RECONCILED
        return Verdict(
            ID,
            PARTIAL,
            reason,
            f"InferencePools are routed with their endpoint pickers, but no Gateway accepted the routes at their "
            f"current generation: {names_list(j.text for j in bad)}; Implemented needs a parent Accepted=True "
            "(with ResolvedRefs) on the HTTPRoute",
            capped(evidence),
            faults=tuple(j.text for j in bad),
        )
    evidence += [judged[pool].text for pool in live]
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{plural(len(live), 'InferencePool')} routed by HTTPRoutes a Gateway accepted, with their endpoint picker "
        f"Services ({names_list(live)}); the GAIE conformance suite is a workload test",
        capped(evidence),
        tier=CONTROLLER_STATUS,
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
