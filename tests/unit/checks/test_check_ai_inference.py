from checkbuilders import cond, crd, crds, obj, profile, snap

from aiconform.conformance.checks import ai_inference

GW_CRDS = (
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
)
CLASSES = "gatewayclasses.gateway.networking.k8s.io"


def _class(name, accepted="True", reason="Accepted", message=""):
    return obj(
        "GatewayClass",
        name,
        spec={"controllerName": f"example.io/{name}"},
        conditions=[cond("Accepted", accepted, reason, message)],
    )


def test_accepted_class_is_implemented():
    s = snap(crds=crds(*GW_CRDS), custom={CLASSES: [_class("istio"), _class("broken", "False")]})
    v = ai_inference.check(s, profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "istio" in v.message and "broken" not in v.message
    assert "GatewayClass/istio Accepted=True" in v.evidence
    assert "CRD httproutes.gateway.networking.k8s.io Established" in v.evidence


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
    assert "cilium (Accepted=False (InvalidParameters: bad ref))" in v.message


def test_no_class_at_all():
    v = ai_inference.check(snap(crds=crds(*GW_CRDS), custom={CLASSES: []}), profile())
    assert v.reason == "NoAcceptedGatewayClass"
    assert "no GatewayClass exists" in v.message
