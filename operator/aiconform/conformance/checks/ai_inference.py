"""ai_inference (no KAR; MUST since 1.33).

Asks: support the Kubernetes Gateway API with an implementation for advanced traffic management for inference
services (weighted traffic splitting, header-based routing, optional service-mesh integration).

We verify:
- the CRDs gatewayclasses, gateways and httproutes `.gateway.networking.k8s.io` are Established and serve `v1`
  (`CRDsMissing`, naming them);
- an implementation's controller accepted a GatewayClass: `Accepted=True` with the condition's
  observedGeneration current for the class's generation (a stale Accepted is not current: the controller has not
  seen the class as it is now);
- Gateways of the accepted classes: `Programmed=True`, current, is the controller serving traffic; a Gateway it
  left without status, with a stale one or `Programmed=False` is evidence against it (named in faults).
Weighted splits and header matches are part of the v1 HTTPRoute standard channel, which an accepted
implementation supports; sending traffic through a canary route to measure the split is a workload test
(CPU only) this check does not run.

Verdicts:
- Implemented (tier ControllerStatus): a GatewayClass Accepted at its current generation and no Gateway of the
  accepted classes neglected or failing.
- Partially Implemented (tier ControllerStatus): a class is accepted but Gateways of it are not programmed,
  have no status or a stale one (`CRsNotReconciled`, named).
- Not Implemented: `CRDsMissing`; no GatewayClass Accepted at its current generation (`NoAcceptedGatewayClass`,
  naming each class with its condition; stale or status-less classes in faults).
- Unknown (`Unreadable`): not Implemented and crds, gatewayclasses or gateways could not be listed.
- N/A: never (a MUST).

Snapshot: `crds`; `custom["gatewayclasses.gateway.networking.k8s.io"]`, `custom["gateways.gateway.networking.k8s.io"]`.
"""

from __future__ import annotations

import dataclasses

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    Problem,
    as_list,
    as_map,
    capped,
    crd_evidence,
    crd_problems,
    from_problems,
    judge_condition,
    name,
    names_list,
    ref,
    spec_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    CRS_NOT_RECONCILED,
    IMPLEMENTED,
    NO_ACCEPTED_GATEWAY_CLASS,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Snapshot

ID = "ai_inference"
GROUP = "gateway.networking.k8s.io"
CRDS = tuple(f"{p}.{GROUP}" for p in ("gatewayclasses", "gateways", "httproutes"))
GATEWAY_CLASSES = f"gatewayclasses.{GROUP}"
GATEWAYS = f"gateways.{GROUP}"
SOURCES = ("crds", GATEWAY_CLASSES, GATEWAYS)


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


def _judge(snapshot: Snapshot) -> Verdict:
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
    judged = {name(c): judge_condition("GatewayClass", c, "Accepted") for c in classes}
    accepted = [c for c in classes if judged[name(c)].outcome == "live"]
    if not accepted:
        states = (j.text.removeprefix("GatewayClass/") for j in judged.values())
        detail = (
            f"none is Accepted at its current generation: {names_list(states)}"
            if classes
            else ("no GatewayClass exists")
        )
        problem = Problem(
            NO_ACCEPTED_GATEWAY_CLASS,
            f"Gateway API CRDs are installed but {detail}: is a Gateway API implementation's controller running?",
        )
        faults = [j.text for j in judged.values() if j.outcome in ("stale", "unreconciled")]
        return dataclasses.replace(from_problems(ID, NOT_IMPLEMENTED, [problem], evidence), faults=tuple(faults))
    evidence += capped([f"{ref('GatewayClass', c)} Accepted=True" for c in accepted])
    accepted_names = {name(c) for c in accepted}
    gateways = [
        judge_condition("Gateway", g, "Programmed")
        for g in sorted(snapshot.objects(GATEWAYS), key=lambda g: ref("Gateway", g))
        if str(spec_of(g).get("gatewayClassName", "")) in accepted_names
    ]
    programmed = [j for j in gateways if j.outcome == "live"]
    evidence += capped([j.text for j in programmed])
    controllers = sorted({str(spec_of(c).get("controllerName", "?")) for c in accepted})
    gw_note = f", {len(programmed)}/{len(gateways)} of their Gateways Programmed" if gateways else ""
    message = (
        f"Gateway API v1 installed; accepted GatewayClasses: {names_list(name(c) for c in accepted)} "
        f"(controllers {', '.join(controllers)}){gw_note}"
    )
    bad = [j for j in gateways if j.outcome in ("stale", "unreconciled", "failed")]
    if bad:
        return Verdict(
            ID,
            PARTIAL,
            CRS_NOT_RECONCILED,
            f"{message}; but the controller has not programmed {names_list(j.text for j in bad)}",
            tuple(evidence),
            faults=tuple(j.text for j in bad),
            tier=CONTROLLER_STATUS,
        )
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"{message}; measuring a weighted split with traffic is a workload test",
        tuple(evidence),
        tier=CONTROLLER_STATUS,
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
