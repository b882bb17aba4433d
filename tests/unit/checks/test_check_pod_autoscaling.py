from checkbuilders import HPA_SERVED, apiservice, cond, crds, deployment, obj, profile, snap

from aiconform.conformance.checks import pod_autoscaling as pa

CUSTOM = "v1beta1.custom.metrics.k8s.io"
SO = "scaledobjects.keda.sh"


def _hpa(name, status="True", reason="ValidMetricFound", generation=1, observed=1):
    spec = {"metrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_waiting"}}}]}
    hpa = obj("HorizontalPodAutoscaler", name, "llm", spec=spec, conditions=[cond("ScalingActive", status, reason)])
    hpa["metadata"]["generation"] = generation
    hpa["status"]["observedGeneration"] = observed
    return hpa


def _scaled(name="chat", ready="True"):
    return obj("ScaledObject", name, "llm", conditions=[cond("Ready", ready, "ScaledObjectReady")])


def _keda(**extra):
    base = {"api_resources": HPA_SERVED, "crds": crds(SO), "deployments": [deployment("keda", "keda-operator")]}
    return snap(**{**base, **extra})


def test_custom_metrics_available_is_controller_status():
    v = pa.check(snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM)], hpas=[_hpa("chat")]), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert f"APIService/{CUSTOM} Available=True" in v.evidence
    assert "HorizontalPodAutoscaler/llm/chat ScalingActive=True" in v.evidence


def test_keda_ready_scaled_object_counts():
    v = pa.check(_keda(custom={SO: [_scaled()]}), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "ScaledObject/llm/chat Ready=True" in v.evidence


def test_an_edited_scaled_objects_ready_is_not_shown_current():
    """KEDA records no generation: after an edit (KEDA possibly down meanwhile) its Ready=True proves nothing, and
    is not held against KEDA either (a healthy KEDA may well have reconciled it)."""
    edited = _scaled()
    edited["metadata"]["generation"] = 3
    v = pa.check(_keda(custom={SO: [edited]}), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "ScaledObject/llm/chat says Ready=True but was edited since creation (generation 3)" in v.message
    assert not v.faults


def test_keda_deployment_without_status_is_presence_only():
    v = pa.check(_keda(custom={SO: []}), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "ScaledObject KEDA reports Ready=True" in v.message


def test_keda_found_under_a_helm_release_prefix():
    v = pa.check(_keda(deployments=[deployment("keda", "platform-keda-operator")], custom={SO: []}), profile())
    assert v.reason == "PresenceOnly" and "platform-keda-operator" in v.message


def test_scaled_objects_keda_never_reconciled_are_faults():
    v = pa.check(_keda(custom={SO: [obj("ScaledObject", "chat", "llm")]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRsNotReconciled")
    assert v.faults == ("ScaledObject/llm/chat has no status (its controller never reconciled it)",)


def test_failed_scaled_object_is_not_success():
    v = pa.check(_keda(custom={SO: [_scaled(ready="False")]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "HPAScalingInactive")
    assert "ScaledObject/llm/chat Ready=False" in v.faults[0]


def test_stale_hpa_is_not_current():
    s = snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM)], hpas=[_hpa("chat", generation=3, observed=2)])
    v = pa.check(s, profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "CRsNotReconciled", "ControllerStatus")
    assert v.faults == ("HorizontalPodAutoscaler/llm/chat status is not current (observedGeneration 2 < generation 3)",)


def test_unavailable_apiservice_is_named():
    s = snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM, available=False, message="no endpoints")])
    v = pa.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "MetricsAPIUnavailable")
    assert f"APIService/{CUSTOM}" in v.message and "no endpoints" in v.message
    assert v.faults


def test_no_metrics_api():
    v = pa.check(snap(api_resources=HPA_SERVED), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoCustomMetricsAPI")


def test_hpa_failing_to_read_metric_is_named():
    hpas = [_hpa("chat", "False", "FailedGetPodsMetric"), _hpa("idle", "False", "ScalingDisabled")]
    v = pa.check(snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM)], hpas=hpas), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "HPAScalingInactive")
    assert "HorizontalPodAutoscaler/llm/chat" in v.message and "idle" not in v.message
    alone = pa.check(snap(api_resources=HPA_SERVED, hpas=hpas[:1]), profile())
    assert (alone.status, alone.reason) == ("Not Implemented", "HPAScalingInactive")


def test_hpa_not_served_is_na():
    v = pa.check(snap(api_resources=frozenset({"v1/pods"})), profile())
    assert (v.status, v.reason) == ("N/A", "NotApplicable")


def test_missing_discovery_is_never_na():
    v = pa.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DiscoveryUnavailable")


def test_unreadable_apiservices_is_unknown():
    v = pa.check(snap(api_resources=HPA_SERVED, unreadable={"apiservices": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert "apiservices" in v.message
