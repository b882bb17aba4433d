from checkbuilders import crds, pod, profile, snap

from aiconform.conformance.checks import disaggregated_inference as di

ROLE = "llm-d.ai/role"


def test_prefill_and_decode_ready():
    pods = [pod("llm", "p-0", labels={ROLE: "prefill"}), pod("llm", "d-0", labels={ROLE: "decode"})]
    v = di.check(snap(pods=pods), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "Pod/llm/p-0 llm-d.ai/role=prefill Ready" in v.evidence


def test_decode_not_ready_is_named():
    pods = [pod("llm", "p-0", labels={ROLE: "prefill"}), pod("llm", "d-0", labels={ROLE: "decode"}, ready=False)]
    v = di.check(snap(pods=pods), profile())
    assert (v.status, v.reason) == ("Not Implemented", "PrefillDecodeIncomplete")
    assert "decode" in v.message and "Pod/llm/d-0" in v.message


def test_dynamo_crd():
    v = di.check(snap(crds=crds(di.DYNAMO_CRD), custom={di.DYNAMO_CRD: []}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "Dynamo" in v.message


def test_nothing():
    v = di.check(snap(pods=[pod("llm", "x")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoDisaggregatedServing")
