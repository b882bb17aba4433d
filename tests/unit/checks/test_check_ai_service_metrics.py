from checkbuilders import cond, crds, daemonset, deployment, obj, pod, profile, snap

from aiconform.conformance.checks import ai_service_metrics as asm

PROMS = "prometheuses.monitoring.coreos.com"
CRDS = ("servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com")


def _prom(name="k8s", selector=True, available="True", reconciled="True", generation=1, observed=1):
    spec = {"serviceMonitorSelector": {}} if selector else {}
    conds = [
        {**cond("Available", available), "observedGeneration": observed},
        {**cond("Reconciled", reconciled), "observedGeneration": observed},
    ]
    p = obj("Prometheus", name, "monitoring", spec=spec, conditions=conds)
    p["metadata"]["generation"] = generation
    return p


def _image(o, image):
    o["spec"]["template"] = {"spec": {"containers": [{"name": "c", "image": image}]}}
    return o


def test_prometheus_available_is_implemented_on_controller_status():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom()]}), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "Prometheus/monitoring/k8s Available=True" in v.evidence


def test_degraded_still_collects():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(available="Degraded")]}), profile())
    assert v.status == "Implemented"


def test_stale_status_is_not_current():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(generation=4, observed=3)]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert v.faults == ("Prometheus/monitoring/k8s status is not current (observedGeneration 3 < generation 4)",)


def test_prometheus_never_reconciled():
    bare = obj("Prometheus", "k8s", "monitoring", spec={"serviceMonitorSelector": {}})
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [bare]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert "has no status" in v.faults[0]


def test_crds_only_is_partial():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: []}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NoPrometheus")


def test_prometheus_unavailable_or_not_reconciled_is_named():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(available="False")]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "PrometheusUnavailable")
    assert "Prometheus/monitoring/k8s" in v.message and v.faults
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(reconciled="False")]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "PrometheusUnavailable")
    assert "Reconciled=False" in v.message


def test_prometheus_selecting_nothing():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(selector=False)]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoMonitorSelector")


def test_nothing():
    v = asm.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")


def test_managed_prometheus_is_presence_only():
    v = asm.check(snap(crds=crds(asm.GMP_CRD)), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "managed Prometheus" in v.message


def test_opentelemetry_collector_is_a_path():
    col = _image(daemonset("observability", "otel-agent"), "otel/opentelemetry-collector-contrib:0.110.0")
    v = asm.check(snap(daemonsets=[col]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "PresenceOnly")
    assert "OpenTelemetry collector (DaemonSet/observability/otel-agent)" in v.message
    by_crd = asm.check(snap(crds=crds(asm.OTEL_CRD)), profile())
    assert by_crd.reason == "PresenceOnly"


def test_annotation_scraping_is_a_path():
    server = _image(deployment("monitoring", "prometheus-server"), "quay.io/prometheus/prometheus:v3.0.0")
    annotated = pod("llm", "vllm-0")
    annotated["metadata"]["annotations"] = {"prometheus.io/scrape": "true"}
    v = asm.check(snap(deployments=[server], pods=[annotated]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "PresenceOnly")
    assert "annotation-based scraping" in v.message and "1 pod annotated" in v.message
    # A scraper with nothing annotated is not a discovery path.
    assert asm.check(snap(deployments=[server]), profile()).reason == "CRDsMissing"
    # Prometheus' Docker Hub image (prom/prometheus) is the same server as quay.io's prometheus/prometheus.
    hub = _image(deployment("monitoring", "prometheus-server"), "docker.io/prom/prometheus:v3.1.0")
    assert asm.check(snap(deployments=[hub], pods=[annotated]), profile()).reason == "PresenceOnly"


def test_unreadable_prometheuses_is_unknown():
    v = asm.check(snap(crds=crds(*CRDS), unreadable={PROMS: "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert PROMS in v.message
