"""pod_autoscaling (KAR-0057; conditional MUST since 1.33).

Asks: "If the platform supports the HorizontalPodAutoscaler, it must function correctly for pods utilizing
accelerators. This includes the ability to scale these Pods based on custom metrics relevant to AI/ML workloads."

HPA is the same core controller for GPU and CPU pods, so a working custom-metrics pipeline is what this
requirement hinges on. What vouches for one is a status written by a live controller:
- an APIService `v1beta1.custom.metrics.k8s.io` / `v1beta2.custom.metrics.k8s.io` /
  `v1beta1.external.metrics.k8s.io` with `Available=True` (the API server's aggregator reached the adapter:
  prometheus-adapter, KEDA's metrics server, ...);
- a KEDA ScaledObject with `Ready=True` (KEDA's operator reconciled it). KEDA records no generation in its status,
  so a Ready=True is current only for a ScaledObject never edited (generation 1); an edited one vouches for
  nothing (`PresenceOnly`, named) and is not held against KEDA either;
- an HPA on custom/external metrics with `ScalingActive=True` and `status.observedGeneration` current (the HPA
  controller read the metric).
Against it: a metrics APIService registered but not available (`MetricsAPIUnavailable`), HPAs on custom metrics
with `ScalingActive=False` because they cannot read them and ScaledObjects with `Ready=False`
(`HPAScalingInactive`), ScaledObjects without status or with a stale one (`CRsNotReconciled`: KEDA is not
reconciling); all named in faults.

Verdicts:
- Implemented (tier ControllerStatus): a metrics source vouched for as above and nothing against it. Scaling GPU
  pods up and down on such a metric is the hardware test, mentioned, not run.
- Partially Implemented: a source vouched for but some HPAs/ScaledObjects failing or neglected (named); or only
  KEDA's CRD and operator Deployment seen, no status of it (`PresenceOnly`, tier APIPresence).
- Not Implemented: `MetricsAPIUnavailable`; `HPAScalingInactive`/`CRsNotReconciled` with nothing vouched for;
  nothing found: `NoCustomMetricsAPI`.
- N/A: the HPA API `autoscaling/v2` is not served (the requirement's condition does not hold); a snapshot without
  any discovery data is `DiscoveryUnavailable` instead, never N/A.
- Unknown (`Unreadable`): not Implemented and apiservices, hpas, crds, deployments or scaledobjects could not be
  listed.

Snapshot: `api_resources`, `apiservices`, `hpas`, `crds`, `deployments`, `validating_webhooks`, `services`;
`custom["scaledobjects.keda.sh"]`.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import CONTROLLER_STATUS
from aiconform.conformance.facts import (
    ControllerMatch,
    Judged,
    Stack,
    as_list,
    as_map,
    assess_stack,
    capped,
    condition,
    condition_detail,
    condition_true,
    discovery_missing,
    judge_condition,
    meta,
    name,
    names_list,
    observed_behind,
    presence_only,
    ref,
    spec_of,
    status_of,
    unless_unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    CRS_NOT_RECONCILED,
    HPA_SCALING_INACTIVE,
    IMPLEMENTED,
    METRICS_API_UNAVAILABLE,
    NO_CUSTOM_METRICS_API,
    NOT_APPLICABLE,
    NOT_APPLICABLE_REASON,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "pod_autoscaling"
METRICS_APISERVICES = (
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
)
SCALED_OBJECTS = "scaledobjects.keda.sh"
KEDA = Stack(
    "KEDA",
    (SCALED_OBJECTS,),
    ControllerMatch(
        names=("keda-operator",), labels=(("app.kubernetes.io/name", "keda-operator"),), images=("kedacore/keda",)
    ),
    "keda-operator",
    ("keda.sh",),
)
CUSTOM_METRIC_TYPES = ("Pods", "Object", "External")
SOURCES = ("apiservices", "hpas", "crds", "deployments", "validating_webhooks", "services", SCALED_OBJECTS)


def _uses_custom_metrics(hpa: Obj) -> bool:
    return any(as_map(m).get("type") in CUSTOM_METRIC_TYPES for m in as_list(spec_of(hpa).get("metrics")))


def _judge_hpa(hpa: Obj) -> Judged | None:
    """An HPA on custom/external metrics by its ScalingActive condition (scaled-to-zero or disabled HPAs are
    neither for nor against); None for HPAs on resource metrics only."""
    if not _uses_custom_metrics(hpa):
        return None
    hpa_ref = ref("HorizontalPodAutoscaler", hpa)
    cond = condition(hpa, "ScalingActive")
    if cond is None:
        return Judged(hpa_ref, "unreconciled", "has no ScalingActive condition (the HPA controller never ran it)")
    lag = observed_behind(hpa)
    if lag:
        return Judged(hpa_ref, "stale", f"status is not current ({lag})")
    if str(cond.get("status")) == "True":
        return Judged(hpa_ref, "live", "ScalingActive=True")
    if str(cond.get("reason", "")).startswith(("FailedGet", "InvalidMetricSource")):
        return Judged(hpa_ref, "failed", f"({condition_detail(hpa, 'ScalingActive')})")
    return Judged(hpa_ref, "pending", condition_detail(hpa, "ScalingActive"))


def _judge(snapshot: Snapshot) -> Verdict:
    services = sorted((s for s in snapshot.apiservices if name(s) in METRICS_APISERVICES), key=name)
    available = [s for s in services if condition_true(s, "Available")]
    unavailable = [s for s in services if not condition_true(s, "Available")]
    evidence = ["autoscaling/v2 horizontalpodautoscalers served"]
    evidence += [f"APIService/{name(s)} Available=True" for s in available]
    if unavailable:
        detail = [f"APIService/{name(s)} ({condition_detail(s, 'Available')})" for s in unavailable]
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            METRICS_API_UNAVAILABLE,
            f"metrics API registered but not available: {names_list(detail)}; HPAs on these metrics cannot scale",
            tuple(evidence),
            faults=tuple(detail),
        )
    keda = assess_stack(snapshot, KEDA)
    scaled = [_judge_scaled_object(o) for o in snapshot.objects(SCALED_OBJECTS)]
    unproven = [j.text for j in scaled if j.outcome == "unproven"]
    hpas = [j for j in (_judge_hpa(h) for h in snapshot.hpas) if j is not None]
    live = [*(j for j in scaled if j.outcome == "live"), *(j for j in hpas if j.outcome == "live")]
    failed = [j for j in [*hpas, *scaled] if j.outcome == "failed"]
    neglected = [j for j in [*hpas, *scaled] if j.outcome in ("stale", "unreconciled")]
    evidence += capped([j.text for j in live], 5)
    faults = tuple(j.text for j in [*failed, *neglected])
    vouched = [f"APIService {name(s)}" for s in available] + (
        ["KEDA ScaledObjects Ready"] if scaled and any(j.outcome == "live" for j in scaled) else []
    )
    if faults:
        reason = HPA_SCALING_INACTIVE if failed else CRS_NOT_RECONCILED
        what = "; ".join(
            part
            for part in (
                f"cannot read their custom metrics: {names_list(j.text for j in failed)}" if failed else "",
                f"not reconciled: {names_list(j.text for j in neglected)}" if neglected else "",
            )
            if part
        )
        if vouched:
            return Verdict(
                ID,
                PARTIAL,
                reason,
                f"custom metrics from {', '.join(vouched)}, but autoscalers {what}",
                tuple(evidence),
                faults=faults,
                tier=CONTROLLER_STATUS,
            )
        return Verdict(ID, NOT_IMPLEMENTED, reason, f"autoscalers {what}", tuple(evidence), faults=faults)
    if vouched or any(j.outcome == "live" for j in hpas):
        sources = vouched or ["HPAs reading custom metrics"]
        return Verdict(
            ID,
            IMPLEMENTED,
            API_VERIFIED,
            f"HPA autoscaling/v2 served with custom metrics from {', '.join(sources)}; scaling GPU pods up and "
            "down on an AI metric is a hardware test",
            tuple(evidence),
            tier=CONTROLLER_STATUS,
        )
    if (keda.healthy and keda.present) or unproven:
        why = f"; {names_list(unproven, 3)}" if unproven else ""
        return presence_only(
            ID,
            f"KEDA is installed ({names_list(keda.evidence, 3)}) but no status it wrote shows it working{why}; "
            "Implemented needs a ScaledObject KEDA reports Ready=True for its current spec, or its external "
            "metrics APIService Available=True",
            evidence + list(keda.evidence),
        )
    return Verdict(
        ID,
        NOT_IMPLEMENTED,
        NO_CUSTOM_METRICS_API,
        "HPA is served but no custom or external metrics API is available (no "
        f"{' / '.join(METRICS_APISERVICES)} APIService Available, no KEDA ScaledObject Ready): install "
        "prometheus-adapter or KEDA so HPAs can scale on AI metrics"
        + (f" ({'; '.join(p.message for p in keda.problems)})" if keda.present and keda.problems else ""),
        tuple(evidence),
    )


def _judge_scaled_object(obj: Obj) -> Judged:
    """KEDA writes no observedGeneration (its CRD's status has none): a Ready=True can only be shown current for
    a ScaledObject never edited since creation (generation 1). An edited one's Ready may predate the edit (KEDA
    down meanwhile) or not: it vouches for nothing, and is not counted against KEDA either."""
    judged = judge_condition("ScaledObject", obj, "Ready")
    ready = condition(obj, "Ready") or {}
    recorded = ready.get("observedGeneration") is not None or status_of(obj).get("observedGeneration") is not None
    generation = int(meta(obj).get("generation") or 1)
    if judged.outcome == "live" and not recorded and generation > 1:
        return Judged(
            judged.ref,
            "unproven",
            f"says Ready=True but was edited since creation (generation {generation}) and KEDA's status records "
            "no generation, so it cannot be shown current",
        )
    return judged


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
    return unless_unreadable(_judge(snapshot), snapshot, *SOURCES)
