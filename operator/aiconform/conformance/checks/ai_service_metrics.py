"""ai_service_metrics (KAR-0061; MUST since 1.33).

Asks: a monitoring system capable of discovering and collecting metrics from workloads that expose them in a
standard format (e.g. the Prometheus exposition format).

We verify:
- the discovery API: the Prometheus Operator CRDs `servicemonitors` and `podmonitors` `.monitoring.coreos.com`
  Established (or Google Managed Prometheus' `podmonitorings.monitoring.googleapis.com`), else `CRDsMissing`;
- a collector: at least one `Prometheus` resource (`NoPrometheus`: Partially Implemented, discovery objects
  can be written but nothing collects them), which is not `Available=False` (`PrometheusUnavailable`) and selects
  monitors at all — a null serviceMonitorSelector and podMonitorSelector select nothing (`NoMonitorSelector`).
All good: Implemented, `APIVerified`. The end-to-end proof — a canary exporter with a PodMonitor whose counter
Prometheus reports increasing — is a CPU-only workload test, mentioned, not run. Managed collection (GMP) has no
in-cluster Prometheus resource and counts on its CRD alone.

Snapshot: `crds`; `custom["prometheuses.monitoring.coreos.com"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    condition,
    condition_detail,
    crd_established,
    crd_evidence,
    crd_problems,
    names_list,
    ref,
    spec_of,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    IMPLEMENTED,
    NO_MONITOR_SELECTOR,
    NO_PROMETHEUS,
    NOT_IMPLEMENTED,
    PARTIAL,
    PROMETHEUS_UNAVAILABLE,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "ai_service_metrics"
CRDS = ("servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com")
PROMETHEUSES = "prometheuses.monitoring.coreos.com"
GMP_CRD = "podmonitorings.monitoring.googleapis.com"


def _unavailable(prom: Obj) -> bool:
    cond = condition(prom, "Available")
    return cond is not None and str(cond.get("status")) == "False"


def _selects_monitors(prom: Obj) -> bool:
    prom_spec = spec_of(prom)
    return prom_spec.get("serviceMonitorSelector") is not None or prom_spec.get("podMonitorSelector") is not None


def _judge_prometheuses(proms: list[Obj], evidence: list[str]) -> Verdict:
    good = [p for p in proms if not _unavailable(p) and _selects_monitors(p)]
    if good:
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"ServiceMonitor/PodMonitor discovery with {names_list(ref('Prometheus', p) for p in good)} collecting; "
            "a canary exporter whose counter Prometheus reports increasing is a workload test",
            tuple(evidence + [ref("Prometheus", p) for p in good]),
        )
    down = [p for p in proms if _unavailable(p)]
    if down:
        detail = names_list(f"{ref('Prometheus', p)} ({condition_detail(p, 'Available')})" for p in down)
        return Verdict(
            ID, NOT_IMPLEMENTED, PROMETHEUS_UNAVAILABLE, f"Prometheus not available: {detail}", tuple(evidence)
        )
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_MONITOR_SELECTOR,
        f"{names_list(ref('Prometheus', p) for p in proms)} set neither serviceMonitorSelector nor "
        "podMonitorSelector, so they discover no ServiceMonitor or PodMonitor: set one (an empty {} selects all)",
        tuple(evidence),
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    missing = crd_problems(snapshot, CRDS)
    if missing:
        if crd_established(snapshot, GMP_CRD):
            return Verdict(
                ID,
                IMPLEMENTED,
                API_VERIFIED,
                f"managed Prometheus collection: CRD {GMP_CRD} Established (PodMonitoring discovery)",
                (f"CRD {GMP_CRD} Established",),
            )
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            f"no monitoring system discovers workloads: {names_list(missing)}; install the Prometheus Operator "
            "(e.g. kube-prometheus-stack) or a managed equivalent",
        )
    evidence = crd_evidence(CRDS)
    proms = sorted(snapshot.objects(PROMETHEUSES), key=lambda p: ref("Prometheus", p))
    if not proms:
        return Verdict(
            ID,
            PARTIAL,
            NO_PROMETHEUS,
            "ServiceMonitor and PodMonitor CRDs are installed but no Prometheus resource collects them",
            tuple(evidence),
        )
    return _judge_prometheuses(proms, evidence)
