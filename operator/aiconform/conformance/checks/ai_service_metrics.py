"""ai_service_metrics (KAR-0061; MUST since 1.33).

Asks: a monitoring system capable of discovering and collecting metrics from workloads that expose them in a
standard format (e.g. the Prometheus exposition format).

Paths we recognise:
- the Prometheus Operator: CRDs `servicemonitors` and `podmonitors` `.monitoring.coreos.com` Established, and a
  `Prometheus` resource the operator reports `Available=True` (or `Degraded`: collecting with fewer replicas) and
  not `Reconciled=False`, both conditions current for its generation, that selects monitors at all (a null
  serviceMonitorSelector and podMonitorSelector select nothing: `NoMonitorSelector`);
- Google Managed Prometheus: CRD `podmonitorings.monitoring.googleapis.com` Established (collection runs outside
  the cluster's API, so presence only);
- an OpenTelemetry collector: CRD `opentelemetrycollectors.opentelemetry.io` Established, or a Deployment or
  DaemonSet running an OpenTelemetry collector image (presence only: its pipeline config is not read);
- annotation-based scraping: a Prometheus-compatible scraper Deployment/DaemonSet (prometheus, vmagent, Grafana
  Agent/Alloy images) and pods annotated `prometheus.io/scrape: "true"` (presence only).

Verdicts:
- Implemented (tier ControllerStatus): a Prometheus the operator reports Available at its current generation,
  selecting monitors. The end-to-end proof (a canary exporter whose counter Prometheus reports increasing) is a
  workload test, mentioned, not run.
- Partially Implemented: the CRDs but no Prometheus (`NoPrometheus`); Prometheus resources the operator never
  reconciled or whose status is stale (`CRsNotReconciled`, named in faults); or only a presence-tier path
  (managed, OpenTelemetry, annotations: `PresenceOnly`, tier APIPresence, the message says what would vouch).
- Not Implemented: a Prometheus reports `Available=False`/`Reconciled=False` (`PrometheusUnavailable`, in faults)
  or selects nothing (`NoMonitorSelector`) and no other path exists; nothing at all (`CRDsMissing`).
- Unknown (`Unreadable`): not Implemented and crds, prometheuses, deployments, daemonsets or pods could not be
  listed.
- N/A: never (a MUST).

Snapshot: `crds`, `deployments`, `daemonsets`, `pods`; `custom["prometheuses.monitoring.coreos.com"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    Judged,
    crd_established,
    crd_evidence,
    crd_problems,
    deployment_images,
    image_repository,
    judge_condition,
    meta,
    names_list,
    plural,
    presence_only,
    ref,
    spec_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRDS_MISSING,
    CRS_NOT_RECONCILED,
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
OTEL_CRD = "opentelemetrycollectors.opentelemetry.io"
SOURCES = ("crds", "deployments", "daemonsets", "pods", PROMETHEUSES)
# Image repositories (the path after the registry) of collectors.
OTEL_IMAGES = ("opentelemetry-collector", "opentelemetry-collector-contrib", "opentelemetry-collector-k8s", "otelcol")
SCRAPER_IMAGES = (
    "prometheus/prometheus",
    "prom/prometheus",
    "victoriametrics/vmagent",
    "grafana/agent",
    "grafana/alloy",
)
SCRAPE_ANNOTATION = "prometheus.io/scrape"


def _image_is(obj: Obj, repos: tuple[str, ...]) -> bool:
    names = [image_repository(i) for i in deployment_images(obj)]
    return any(n == r or n.endswith(f"/{r}") for n in names for r in repos)


def _workloads(snapshot: Snapshot, repos: tuple[str, ...]) -> list[str]:
    return sorted(
        [ref("Deployment", d) for d in snapshot.deployments if _image_is(d, repos)]
        + [ref("DaemonSet", d) for d in snapshot.daemonsets if _image_is(d, repos)]
    )


def _judge_prometheus(prom: Obj) -> Judged:
    """Available (True or Degraded) and not Reconciled=False, both current."""
    available = judge_condition("Prometheus", prom, "Available", good=("True", "Degraded"))
    if available.outcome != "live":
        return available
    reconciled = judge_condition("Prometheus", prom, "Reconciled")
    if reconciled.outcome in ("failed", "stale"):
        return reconciled
    return available


def _selects_monitors(prom: Obj) -> bool:
    prom_spec = spec_of(prom)
    return prom_spec.get("serviceMonitorSelector") is not None or prom_spec.get("podMonitorSelector") is not None


def _prometheus_operator(snapshot: Snapshot) -> Verdict:
    missing = crd_problems(snapshot, CRDS)
    if missing:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            CRDS_MISSING,
            f"no monitoring system discovers workloads: {names_list(missing)}; install the Prometheus Operator "
            "(e.g. kube-prometheus-stack), an OpenTelemetry collector or a managed equivalent",
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
    judged = [(p, _judge_prometheus(p)) for p in proms]
    good = [(p, j) for p, j in judged if j.outcome == "live" and _selects_monitors(p)]
    if good:
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"ServiceMonitor/PodMonitor discovery with {names_list(j.text for _, j in good)} (the operator's status); "
            "a canary exporter whose counter Prometheus reports increasing is a workload test",
            tuple(evidence + [j.text for _, j in good]),
            tier=CONTROLLER_STATUS,
        )
    down = [j for _, j in judged if j.outcome == "failed"]
    neglected = [j for _, j in judged if j.outcome in ("stale", "unreconciled")]
    if down:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            PROMETHEUS_UNAVAILABLE,
            f"Prometheus not available: {names_list(j.text for j in down)}",
            tuple(evidence),
            faults=tuple(j.text for j in down + neglected),
        )
    if neglected:
        return Verdict(
            ID,
            PARTIAL,
            CRS_NOT_RECONCILED,
            f"the Prometheus Operator has not reconciled {names_list(j.text for j in neglected)}: is it running? "
            "Implemented needs a Prometheus it reports Available at its current generation",
            tuple(evidence),
            faults=tuple(j.text for j in neglected),
        )
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_MONITOR_SELECTOR,
        f"{names_list(ref('Prometheus', p) for p in proms)} set neither serviceMonitorSelector nor "
        "podMonitorSelector, so they discover no ServiceMonitor or PodMonitor: set one (an empty {} selects all)",
        tuple(evidence),
    )


def _other_paths(snapshot: Snapshot) -> list[str]:
    """Presence-tier collection paths: managed Prometheus, OpenTelemetry collectors, annotation scraping."""
    out = []
    if crd_established(snapshot, GMP_CRD):
        out.append(f"managed Prometheus collection (CRD {GMP_CRD} Established)")
    otel = _workloads(snapshot, OTEL_IMAGES)
    if otel or crd_established(snapshot, OTEL_CRD):
        what = names_list(otel, 3) if otel else f"CRD {OTEL_CRD} Established"
        out.append(f"an OpenTelemetry collector ({what})")
    scrapers = _workloads(snapshot, SCRAPER_IMAGES)
    annotated = [p for p in snapshot.pods if str((meta(p).get("annotations") or {}).get(SCRAPE_ANNOTATION)) == "true"]
    if scrapers and annotated:
        out.append(
            f"annotation-based scraping ({names_list(scrapers, 3)}; {plural(len(annotated), 'pod')} annotated "
            f"{SCRAPE_ANNOTATION}=true)"
        )
    return out


def _judge(snapshot: Snapshot) -> Verdict:
    operator = _prometheus_operator(snapshot)
    if operator.status == IMPLEMENTED:
        return operator
    others = _other_paths(snapshot)
    if not others:
        return operator
    seen = "; ".join(others)
    prom = "" if operator.reason == CRDS_MISSING else f" (Prometheus Operator: {operator.message})"
    return presence_only(
        ID,
        f"workload metrics can be collected through {seen}{prom}; only the presence of the collector was seen: "
        "Implemented needs a status its operator writes (a Prometheus reported Available) or a canary whose metric "
        "is seen collected",
        [*operator.evidence, *others],
        operator.faults,
    )


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
