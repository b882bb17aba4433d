from checkbuilders import cond, crds, obj, profile, service, snap

from aiconform.conformance.checks import advanced_inference_ingress as aii

POOLS = "inferencepools.inference.networking.k8s.io"
ROUTES = "httproutes.gateway.networking.k8s.io"


def _pool(ns="llm", name="llama", picker="llama-epp"):
    return obj("InferencePool", name, ns, spec={"endpointPickerRef": {"name": picker, "port": {"number": 9002}}})


def _route(ns="llm", pool="llama", accepted="True", observed=1, generation=1, resolved="True"):
    backend = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": pool}
    route = obj("HTTPRoute", "chat", ns, spec={"rules": [{"backendRefs": [backend]}]})
    route["metadata"]["generation"] = generation
    if accepted is not None:
        conds = [
            {**cond("Accepted", accepted, "Accepted"), "observedGeneration": observed},
            {**cond("ResolvedRefs", resolved, "ResolvedRefs"), "observedGeneration": observed},
        ]
        route["status"] = {"parents": [{"parentRef": {"name": "inference-gw"}, "conditions": conds}]}
    return route


def _wired(route):
    return snap(crds=crds(POOLS), custom={POOLS: [_pool()], ROUTES: [route]}, services=[service("llm", "llama-epp")])


def test_accepted_route_with_picker_is_implemented_on_controller_status():
    v = aii.check(_wired(_route()), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "HTTPRoute/llm/chat -> InferencePool/llm/llama" in v.evidence
    assert "HTTPRoute/llm/chat Accepted=True by parent inference-gw" in v.evidence


def test_route_no_gateway_took_is_a_fault():
    v = aii.check(_wired(_route(accepted=None)), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert v.faults == ("HTTPRoute/llm/chat has no parent status (no Gateway implementation took it)",)


def test_stale_route_status_is_not_current():
    v = aii.check(_wired(_route(generation=2, observed=1)), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert "observedGeneration 1 < generation 2" in v.faults[0]


def test_rejected_or_unresolved_route_is_not_success():
    rejected = aii.check(_wired(_route(accepted="False")), profile())
    assert (rejected.status, rejected.reason) == ("Partially Implemented", "NoInferencePoolRoute")
    assert "Accepted=False" in rejected.faults[0]
    unresolved = aii.check(_wired(_route(resolved="False")), profile())
    assert "ResolvedRefs=False" in unresolved.faults[0]


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


def test_unreadable_routes_is_unknown():
    s = snap(crds=crds(POOLS), custom={POOLS: [_pool()]}, unreadable={ROUTES: "forbidden: HTTP 403"})
    v = aii.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert ROUTES in v.message
