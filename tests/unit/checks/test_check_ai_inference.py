from checkbuilders import cond, crd, crds, obj, profile, snap

from aiconform.conformance.checks import ai_inference

GW_CRDS = (
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
)
CLASSES = "gatewayclasses.gateway.networking.k8s.io"
GATEWAYS = "gateways.gateway.networking.k8s.io"


def _current(o, type_, status="True", generation=1, observed=1, reason="", message="", **kw):
    o.setdefault("status", {})["conditions"] = [
        {**cond(type_, status, reason, message), "observedGeneration": observed}
    ]
    o["metadata"]["generation"] = generation
    return o


def _class(name, accepted="True", reason="Accepted", message="", generation=1, observed=1):
    c = obj("GatewayClass", name, spec={"controllerName": f"example.io/{name}"})
    return _current(c, "Accepted", accepted, generation, observed, reason, message)


def _gateway(name, cls="istio", programmed="True", observed=1):
    g = obj("Gateway", name, "infra", spec={"gatewayClassName": cls})
    return _current(g, "Programmed", programmed, 1, observed)


def test_accepted_class_is_implemented_on_controller_status():
    s = snap(crds=crds(*GW_CRDS), custom={CLASSES: [_class("istio"), _class("broken", "False")]})
    v = ai_inference.check(s, profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "istio" in v.message and "broken" not in v.message
    assert "GatewayClass/istio Accepted=True" in v.evidence
    assert "CRD httproutes.gateway.networking.k8s.io Established" in v.evidence


def test_stale_accepted_is_not_current():
    s = snap(crds=crds(*GW_CRDS), custom={CLASSES: [_class("istio", generation=2, observed=1)]})
    v = ai_inference.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAcceptedGatewayClass")
    assert v.faults == ("GatewayClass/istio status is not current (observedGeneration 1 < generation 2)",)


def test_class_no_controller_took_is_named():
    s = snap(crds=crds(*GW_CRDS), custom={CLASSES: [obj("GatewayClass", "orphan")]})
    v = ai_inference.check(s, profile())
    assert v.reason == "NoAcceptedGatewayClass" and "orphan has no status" in v.message


def test_gateways_programmed_or_neglected():
    ok = snap(crds=crds(*GW_CRDS), custom={CLASSES: [_class("istio")], GATEWAYS: [_gateway("web")]})
    v = ai_inference.check(ok, profile())
    assert v.status == "Implemented" and "Gateway/infra/web Programmed=True" in v.evidence
    bad = snap(
        crds=crds(*GW_CRDS),
        custom={
            CLASSES: [_class("istio")],
            GATEWAYS: [
                _gateway("web", programmed="False"),
                obj("Gateway", "x", "infra", spec={"gatewayClassName": "istio"}),
            ],
        },
    )
    v = ai_inference.check(bad, profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "CRsNotReconciled", "ControllerStatus")
    assert "Gateway/infra/x has no status (its controller never reconciled it)" in v.faults
    assert any(f.startswith("Gateway/infra/web Programmed=False") for f in v.faults)


def test_no_crds():
    v = ai_inference.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
    assert "httproutes.gateway.networking.k8s.io (absent)" in v.message


def test_crd_not_established_or_without_v1():
    s = snap(crds=[crd(GW_CRDS[0], established=False), crd(GW_CRDS[1], versions=("v1beta1",)), crd(GW_CRDS[2])])
    v = ai_inference.check(s, profile())
    assert v.reason == "CRDsMissing"
    assert f"{GW_CRDS[0]} (not Established)" in v.message
    assert f"{GW_CRDS[1]} (v1 not served)" in v.message


def test_no_accepted_class_names_classes():
    s = snap(crds=crds(*GW_CRDS), custom={CLASSES: [_class("cilium", "False", "InvalidParameters", "bad ref")]})
    v = ai_inference.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAcceptedGatewayClass")
    assert "cilium Accepted=False (InvalidParameters: bad ref)" in v.message


def test_no_class_at_all():
    v = ai_inference.check(snap(crds=crds(*GW_CRDS), custom={CLASSES: []}), profile())
    assert v.reason == "NoAcceptedGatewayClass"
    assert "no GatewayClass exists" in v.message


def test_unreadable_gatewayclasses_is_unknown():
    s = snap(crds=crds(*GW_CRDS), unreadable={CLASSES: "forbidden: HTTP 403"})
    v = ai_inference.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert CLASSES in v.message
