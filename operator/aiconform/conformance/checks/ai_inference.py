"""ai_inference (no KAR; MUST since 1.33).

Asks: support the Kubernetes Gateway API with an implementation for advanced traffic management for inference
services (weighted traffic splitting, header-based routing, optional service-mesh integration).

We verify:
- the CRDs gatewayclasses, gateways and httproutes `.gateway.networking.k8s.io` are Established and serve `v1`
  (`CRDsMissing`, naming them);
- at least one GatewayClass reports `Accepted=True`, i.e. an implementation's controller owns it
  (`NoAcceptedGatewayClass`, naming the classes and their Accepted condition).
All good: Implemented, `APIVerified`. Weighted splits and header matches are part of the v1 HTTPRoute standard
channel, which an accepted implementation supports. Sending traffic through a canary route to measure the split
is a workload test (CPU only) that this check does not run; Gateways' `Programmed` state is reported as
evidence.

Snapshot: `custom["gatewayclasses.gateway.networking.k8s.io"]`, optionally
`custom["gateways.gateway.networking.k8s.io"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Problem,
    as_list,
    as_map,
    capped,
    condition_detail,
    condition_true,
    crd_evidence,
    crd_problems,
    from_problems,
    name,
    names_list,
    ref,
    spec_of,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    IMPLEMENTED,
    NO_ACCEPTED_GATEWAY_CLASS,
    NOT_IMPLEMENTED,
    Verdict,
)
from aiconform.kube.snapshot import Snapshot

ID = "ai_inference"
GROUP = "gateway.networking.k8s.io"
CRDS = tuple(f"{p}.{GROUP}" for p in ("gatewayclasses", "gateways", "httproutes"))
GATEWAY_CLASSES = f"gatewayclasses.{GROUP}"
GATEWAYS = f"gateways.{GROUP}"


def _v1_missing(snapshot: Snapshot) -> list[str]:
    out = []
    for crd_name in CRDS:
        crd = snapshot.crd(crd_name)
        if crd is None:
            continue
        served = [v for v in as_list(spec_of(crd).get("versions")) if as_map(v).get("served")]
        if served and not any(as_map(v).get("name") == "v1" for v in served):
            out.append(f"{crd_name} (v1 not served)")
    return out


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    missing = crd_problems(snapshot, CRDS) + _v1_missing(snapshot)
    if missing:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            f"Gateway API CRDs missing: {names_list(missing)}; install the Gateway API (v1) and an implementation "
            "(Istio, Envoy Gateway, Cilium, kgateway, Traefik, ...)",
        )
    evidence = crd_evidence(CRDS)
    classes = sorted(snapshot.objects(GATEWAY_CLASSES), key=name)
    accepted = [c for c in classes if condition_true(c, "Accepted")]
    if not accepted:
        states = (f"{name(c)} ({condition_detail(c, 'Accepted')})" for c in classes)
        detail = f"none is Accepted: {names_list(states)}" if classes else "no GatewayClass exists"
        problem = Problem(
            NO_ACCEPTED_GATEWAY_CLASS,
            f"Gateway API CRDs are installed but {detail}: is a Gateway API implementation's controller running?",
        )
        return from_problems(ID, NOT_IMPLEMENTED, [problem], evidence)
    evidence += capped([f"{ref('GatewayClass', c)} Accepted=True" for c in accepted])
    gateways = sorted(snapshot.objects(GATEWAYS), key=name)
    programmed = [g for g in gateways if condition_true(g, "Programmed")]
    evidence += capped([f"{ref('Gateway', g)} Programmed=True" for g in programmed])
    controllers = sorted({str(spec_of(c).get("controllerName", "?")) for c in accepted})
    gw_note = f", {len(programmed)}/{len(gateways)} Gateways Programmed" if gateways else ""
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"Gateway API v1 installed; accepted GatewayClasses: {names_list(name(c) for c in accepted)} "
        f"(controllers {', '.join(controllers)}){gw_note}; measuring a weighted split with traffic is a workload test",
        tuple(evidence),
    )
