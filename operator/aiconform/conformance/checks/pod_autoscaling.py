"""pod_autoscaling (KAR-0057; conditional MUST since 1.33).

Asks: "If the platform supports the HorizontalPodAutoscaler, it must function correctly for pods utilizing
accelerators. This includes the ability to scale these Pods based on custom metrics relevant to AI/ML workloads."

We verify:
- the HPA API `autoscaling/v2` is served (if not, the condition of the requirement does not hold: N/A; a
  snapshot without any discovery data is `DiscoveryUnavailable` instead, never N/A);
- a custom or external metrics API is available: APIService `v1beta1.custom.metrics.k8s.io` or
  `v1beta1.external.metrics.k8s.io` with `Available=True` (prometheus-adapter, KEDA's metrics server, ...), or
  KEDA is healthy (CRD `scaledobjects.keda.sh`, `keda-operator` available);
- no metrics APIService is registered but unavailable (`MetricsAPIUnavailable`: HPAs on it would fail);
- no HPA on custom/external metrics reports `ScalingActive=False` because it cannot read its metric
  (`HPAScalingInactive`, naming the HPAs).
All good: Implemented, `APIVerified`. Decision: HPA is the same core controller for GPU and CPU pods, so a
working custom-metrics pipeline is what this requirement hinges on; a scale-up/scale-down of GPU pods on such a
metric is the hardware test, mentioned, not run. Nothing found: Not Implemented (`NoCustomMetricsAPI`).

Snapshot: `api_resources`, `apiservices`, `hpas`, `crds`, `deployments`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import (
    Stack,
    as_list,
    as_map,
    assess_stack,
    condition,
    condition_detail,
    condition_true,
    deployment_named,
    discovery_missing,
    name,
    names_list,
    ref,
    spec_of,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    HPA_SCALING_INACTIVE,
    IMPLEMENTED,
    METRICS_API_UNAVAILABLE,
    NO_CUSTOM_METRICS_API,
    NOT_APPLICABLE,
    NOT_APPLICABLE_REASON,
    NOT_IMPLEMENTED,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "pod_autoscaling"
METRICS_APISERVICES = (
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
)
KEDA = Stack("KEDA", ("scaledobjects.keda.sh",), deployment_named("keda-operator"), "keda-operator", ("keda.sh",))
CUSTOM_METRIC_TYPES = ("Pods", "Object", "External")


def _uses_custom_metrics(hpa: Obj) -> bool:
    return any(as_map(m).get("type") in CUSTOM_METRIC_TYPES for m in as_list(spec_of(hpa).get("metrics")))


def _failing_hpas(snapshot: Snapshot) -> list[str]:
    """HPAs on custom/external metrics that cannot read them (scaled-to-zero HPAs are fine)."""
    out = []
    for hpa in snapshot.hpas:
        cond = condition(hpa, "ScalingActive")
        if cond is None or not _uses_custom_metrics(hpa) or str(cond.get("status")) != "False":
            continue
        if str(cond.get("reason", "")).startswith(("FailedGet", "InvalidMetricSource")):
            out.append(f"{ref('HorizontalPodAutoscaler', hpa)} ({condition_detail(hpa, 'ScalingActive')})")
    return out


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (unknown := discovery_missing(ID, snapshot)) is not None:
        return unknown
    if not snapshot.served("autoscaling/v2", "horizontalpodautoscalers"):
        return Verdict(
            ID,
            NOT_APPLICABLE,
            NOT_APPLICABLE_REASON,
            "the HorizontalPodAutoscaler API autoscaling/v2 is not served: the requirement's condition does not hold",
        )
    services = sorted((s for s in snapshot.apiservices if name(s) in METRICS_APISERVICES), key=name)
    available = [s for s in services if condition_true(s, "Available")]
    unavailable = [s for s in services if not condition_true(s, "Available")]
    evidence = ["autoscaling/v2 horizontalpodautoscalers served"]
    evidence += [f"APIService/{name(s)} Available" for s in available]
    if unavailable:
        detail = names_list(f"APIService/{name(s)} ({condition_detail(s, 'Available')})" for s in unavailable)
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            METRICS_API_UNAVAILABLE,
            f"metrics API registered but not available: {detail}; HPAs on these metrics cannot scale",
            tuple(evidence),
        )
    keda = assess_stack(snapshot, KEDA)
    if keda.healthy:
        evidence += keda.evidence
    if not available and not keda.healthy:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            NO_CUSTOM_METRICS_API,
            "HPA is served but no custom or external metrics API is available (no "
            f"{' / '.join(METRICS_APISERVICES)} APIService, no healthy KEDA): install prometheus-adapter or KEDA "
            "so HPAs can scale on AI metrics",
            tuple(evidence),
        )
    failing = _failing_hpas(snapshot)
    if failing:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            HPA_SCALING_INACTIVE,
            f"HPAs cannot read their custom metrics: {names_list(failing)}",
            tuple(evidence),
        )
    sources = [f"APIService {name(s)}" for s in available] + (["KEDA"] if keda.healthy else [])
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"HPA autoscaling/v2 served with custom metrics from {', '.join(sources)}; scaling GPU pods up and down on "
        "an AI metric is a hardware test",
        tuple(evidence),
    )
