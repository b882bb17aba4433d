from checkbuilders import HPA_SERVED, apiservice, cond, crds, deployment, obj, profile, snap

from aiconform.conformance.checks import pod_autoscaling as pa

CUSTOM = "v1beta1.custom.metrics.k8s.io"


def _hpa(name, status="True", reason="ValidMetricFound"):
    spec = {"metrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_waiting"}}}]}
    return obj("HorizontalPodAutoscaler", name, "llm", spec=spec, conditions=[cond("ScalingActive", status, reason)])


def test_custom_metrics_available():
    v = pa.check(snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM)], hpas=[_hpa("chat")]), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert f"APIService/{CUSTOM} Available" in v.evidence


def test_keda_counts():
    s = snap(
        api_resources=HPA_SERVED, crds=crds("scaledobjects.keda.sh"), deployments=[deployment("keda", "keda-operator")]
    )
    assert pa.check(s, profile()).status == "Implemented"


def test_unavailable_apiservice_is_named():
    s = snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM, available=False, message="no endpoints")])
    v = pa.check(s, profile())
    assert (v.status, v.reason) == ("Not Implemented", "MetricsAPIUnavailable")
    assert f"APIService/{CUSTOM}" in v.message and "no endpoints" in v.message


def test_no_metrics_api():
    v = pa.check(snap(api_resources=HPA_SERVED), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoCustomMetricsAPI")


def test_hpa_failing_to_read_metric_is_named():
    hpas = [_hpa("chat", "False", "FailedGetPodsMetric"), _hpa("idle", "False", "ScalingDisabled")]
    v = pa.check(snap(api_resources=HPA_SERVED, apiservices=[apiservice(CUSTOM)], hpas=hpas), profile())
    assert (v.status, v.reason) == ("Not Implemented", "HPAScalingInactive")
    assert "HorizontalPodAutoscaler/llm/chat" in v.message and "idle" not in v.message


def test_hpa_not_served_is_na():
    v = pa.check(snap(api_resources=frozenset({"v1/pods"})), profile())
    assert (v.status, v.reason) == ("N/A", "NotApplicable")


def test_missing_discovery_is_never_na():
    v = pa.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DiscoveryUnavailable")
