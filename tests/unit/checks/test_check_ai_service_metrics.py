from checkbuilders import cond, crds, obj, profile, snap

from aiconform.conformance.checks import ai_service_metrics as asm

PROMS = "prometheuses.monitoring.coreos.com"
CRDS = ("servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com")


def _prom(name="k8s", selector=True, available="True"):
    spec = {"serviceMonitorSelector": {}} if selector else {}
    return obj("Prometheus", name, "monitoring", spec=spec, conditions=[cond("Available", available)])


def test_prometheus_collecting_is_implemented():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom()]}), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "Prometheus/monitoring/k8s" in v.evidence


def test_crds_only_is_partial():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: []}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NoPrometheus")


def test_prometheus_unavailable_is_named():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(available="False")]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "PrometheusUnavailable")
    assert "Prometheus/monitoring/k8s" in v.message


def test_prometheus_selecting_nothing():
    v = asm.check(snap(crds=crds(*CRDS), custom={PROMS: [_prom(selector=False)]}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoMonitorSelector")


def test_nothing():
    v = asm.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")


def test_managed_prometheus():
    assert asm.check(snap(crds=crds(asm.GMP_CRD)), profile()).status == "Implemented"
