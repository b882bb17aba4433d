from checkbuilders import cond, crds, obj, pod, profile, snap

from aiconform.conformance.checks import disaggregated_inference as di

ROLE = "llm-d.ai/role"


def _graph(ready="True", generation=1, observed=1):
    g = obj(
        "DynamoGraphDeployment", "llama", "llm", conditions=[{**cond("Ready", ready), "observedGeneration": observed}]
    )
    g["metadata"]["generation"] = generation
    return g


def test_prefill_and_decode_ready():
    pods = [pod("llm", "p-0", labels={ROLE: "prefill"}), pod("llm", "d-0", labels={ROLE: "decode"})]
    v = di.check(snap(pods=pods), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "NeedsHardwareTest", "ControllerStatus")
    assert "Pod/llm/p-0 llm-d.ai/role=prefill Ready" in v.evidence


def test_decode_not_ready_is_named():
    pods = [pod("llm", "p-0", labels={ROLE: "prefill"}), pod("llm", "d-0", labels={ROLE: "decode"}, ready=False)]
    v = di.check(snap(pods=pods), profile())
    assert (v.status, v.reason) == ("Not Implemented", "PrefillDecodeIncomplete")
    assert "decode" in v.message and "Pod/llm/d-0" in v.message


def test_dynamo_ready_graph():
    v = di.check(snap(crds=crds(di.DYNAMO_CRD), custom={di.DYNAMO_CRD: [_graph()]}), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "NeedsHardwareTest", "ControllerStatus")
    assert "DynamoGraphDeployment/llm/llama Ready=True" in v.message


def test_dynamo_crd_only_is_presence_only():
    v = di.check(snap(crds=crds(di.DYNAMO_CRD), custom={di.DYNAMO_CRD: []}), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "Dynamo" in v.message


def test_dynamo_graph_stale_or_failed():
    stale = di.check(snap(crds=crds(di.DYNAMO_CRD), custom={di.DYNAMO_CRD: [_graph(generation=2)]}), profile())
    assert (stale.status, stale.reason) == ("Not Implemented", "CRsNotReconciled")
    assert "observedGeneration 1 < generation 2" in stale.faults[0]
    failed = di.check(snap(crds=crds(di.DYNAMO_CRD), custom={di.DYNAMO_CRD: [_graph("False")]}), profile())
    assert (failed.status, failed.reason) == ("Not Implemented", "ReconcileFailed")


def test_nothing():
    v = di.check(snap(pods=[pod("llm", "x")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoDisaggregatedServing")


def test_unreadable_pods_is_unknown():
    v = di.check(snap(unreadable={"pods": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
