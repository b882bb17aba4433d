from checkbuilders import crds, obj, profile, service, snap

from aiconform.conformance.checks import advanced_inference_ingress as aii

POOLS = "inferencepools.inference.networking.k8s.io"
ROUTES = "httproutes.gateway.networking.k8s.io"


def _pool(ns="llm", name="llama", picker="llama-epp"):
    return obj("InferencePool", name, ns, spec={"endpointPickerRef": {"name": picker, "port": {"number": 9002}}})


def _route(ns="llm", pool="llama"):
    backend = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": pool}
    return obj("HTTPRoute", "chat", ns, spec={"rules": [{"backendRefs": [backend]}]})


def test_routed_pool_with_picker_is_implemented():
    s = snap(crds=crds(POOLS), custom={POOLS: [_pool()], ROUTES: [_route()]}, services=[service("llm", "llama-epp")])
    v = aii.check(s, profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "HTTPRoute/llm/chat -> InferencePool/llm/llama" in v.evidence


def test_crd_only_is_partial():
    v = aii.check(snap(crds=crds(POOLS), custom={POOLS: []}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NoInferencePool")


def test_pool_without_route_is_named():
    v = aii.check(snap(crds=crds(POOLS), custom={POOLS: [_pool()], ROUTES: [_route(pool="other")]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NoInferencePoolRoute")
    assert "InferencePool/llm/llama" in v.message


def test_missing_endpoint_picker():
    v = aii.check(snap(crds=crds(POOLS), custom={POOLS: [_pool()], ROUTES: [_route()]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "EndpointPickerMissing")
    assert "InferencePool/llm/llama (Service llama-epp)" in v.message


def test_no_crd():
    v = aii.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
