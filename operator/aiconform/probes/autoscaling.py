"""pod_autoscaling: a canary Deployment and an autoscaler on it → the HPA controller reads its metric
(`ScalingActive=True`), or the probe says which metrics API did not answer.

Where KEDA is installed (the ScaledObject API is served): a ScaledObject with a cron trigger (an external metric
KEDA's own metrics adapter computes, so nothing outside the cluster is queried) → KEDA marks it Ready and makes
its HPA → the HPA controller reads the external metric through external.metrics.k8s.io. That is the custom
metrics pipeline the requirement hinges on: Implemented when read, failed when the HPA controller keeps saying it
cannot get the metric.

Without KEDA: a plain HPA on the canary's CPU (the resource metrics API, metrics.k8s.io). Read → the HPA controller
works, but custom metrics are not shown (Partially Implemented, NoCustomMetricsAPI); not read → the probe cannot
decide (the resource metrics API is not what the requirement asks for) and names the API that did not answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from aiconform.api.models import ProfileSpec
from aiconform.conformance.verdict import NO_CUSTOM_METRICS_API, PARTIAL
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.record import condition_of, condition_text
from aiconform.probes.sandbox import ProbeEnded, Sandbox

REQUIREMENT = "pod_autoscaling"
NAME = "canary"
HPA_API = "/apis/autoscaling/v2"
KEDA_GROUP, KEDA_VERSION = "keda.sh", "v1alpha1"
KEDA_API = f"/apis/{KEDA_GROUP}/{KEDA_VERSION}"
MAX_REPLICAS = 2
QUOTA = {
    "pods": "3",
    "requests.cpu": "100m",
    "requests.memory": "128Mi",
    "limits.cpu": "100m",
    "limits.memory": "128Mi",
}
# The HPA controller re-reads every 15 s (its default sync period); a metric failure counts once it has lasted
# this long: short where nothing can answer (the API's APIService missing or unavailable), longer where an
# adapter may still be warming up (metrics-server has no sample of a new pod for up to a minute).
SETTLE_NOTHING_ANSWERS, SETTLE_WARMING = 20.0, 60.0

# The HPA controller's ScalingActive=False reasons, by the metrics API it could not read.
METRIC_APIS: Mapping[str, str] = {
    "FailedGetResourceMetric": "metrics.k8s.io",
    "FailedGetContainerResourceMetric": "metrics.k8s.io",
    "FailedGetPodsMetric": "custom.metrics.k8s.io",
    "FailedGetObjectMetric": "custom.metrics.k8s.io",
    "FailedGetExternalMetric": "external.metrics.k8s.io",
}
API_NAMES: Mapping[str, str] = {
    "metrics.k8s.io": "the resource metrics API",
    "custom.metrics.k8s.io": "the custom metrics API",
    "external.metrics.k8s.io": "the external metrics API",
}
State = Literal["active", "metric_failed", "pending"]


def scaling_state(hpa: Mapping[str, Any] | None) -> tuple[State, str, str]:
    """(state, the metrics API it concerns or "", what was seen) from an HPA's ScalingActive condition, current
    for its generation."""
    if hpa is None:
        return "pending", "", "HPA not found"
    cond = condition_of(hpa, "ScalingActive")
    seen = condition_text(cond, "ScalingActive")
    generation = (hpa.get("metadata") or {}).get("generation")
    observed = (hpa.get("status") or {}).get("observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed, int) or observed < generation):
        return "pending", "", f"{seen}; observedGeneration {observed} < generation {generation}"
    if cond.get("status") == "True":
        return "active", "", seen
    api = METRIC_APIS.get(str(cond.get("reason", "")), "")
    if cond.get("status") == "False" and api:
        return "metric_failed", api, seen
    return "pending", "", seen


def apiservice_note(api: str, apiservices: Iterable[Mapping[str, Any]]) -> tuple[bool, str]:
    """(whether anything can answer for `api`, what its APIServices say)."""
    found = [s for s in apiservices if str((s.get("metadata") or {}).get("name", "")).partition(".")[2] == api]
    if not found:
        return False, f"no APIService registers {api}"
    notes, live = [], False
    for svc in sorted(found, key=lambda s: str(s["metadata"]["name"])):
        cond = condition_of(svc, "Available")
        live = live or cond.get("status") == "True"
        notes.append(f"APIService {svc['metadata']['name']} {condition_text(cond, 'Available')}")
    return live, "; ".join(notes)


def settle_for(api: str, apiservices: Iterable[Mapping[str, Any]]) -> float:
    return SETTLE_WARMING if apiservice_note(api, apiservices)[0] else SETTLE_NOTHING_ANSWERS


def deployment(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    resources = {"cpu": "10m", "memory": "16Mi"}
    selector = {"aiconform.io/probe-canary": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**labels, **selector}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "canary",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": resources, "limits": resources},
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        }
                    ],
                },
            },
        },
    }


def hpa(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
    }


def scaled_object(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A cron trigger outside its window (the metric reads 0, the canary stays at one replica)."""
    return {
        "apiVersion": f"{KEDA_GROUP}/{KEDA_VERSION}",
        "kind": "ScaledObject",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"name": NAME},
            "minReplicaCount": 1,
            "maxReplicaCount": MAX_REPLICAS,
            "pollingInterval": 30,
            "triggers": [
                {
                    "type": "cron",
                    "metadata": {
                        "timezone": "Etc/UTC",
                        "start": "0 0 1 1 *",
                        "end": "5 0 1 1 *",
                        "desiredReplicas": "2",
                    },
                }
            ],
        },
    }


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    del spec
    if not snapshot.served("autoscaling/v2", "horizontalpodautoscalers"):
        raise ProbeEnded("cannot_run", "nothing to test: the API server does not serve autoscaling/v2 HPAs")
    keda = snapshot.served(f"{KEDA_GROUP}/{KEDA_VERSION}", "scaledobjects")
    kube = box.kube
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    await box.create(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        deployment(ns, labels),
        f"create Deployment {NAME} (1 replica)",
        owned=False,
    )
    hpa_name = NAME
    if keda:
        so_path = f"{KEDA_API}/namespaces/{ns}/scaledobjects/{NAME}"
        await box.create(
            f"{KEDA_API}/namespaces/{ns}/scaledobjects",
            scaled_object(ns, labels),
            f"create ScaledObject {NAME} (cron trigger: an external metric KEDA computes itself)",
            owned=False,
        )

        async def ready() -> tuple[str | None, str]:
            obj = await kube.get(so_path)
            cond = condition_of(obj, "Ready")
            seen = condition_text(cond, "Ready")
            return ((obj or {}).get("status", {}).get("hpaName") or f"keda-hpa-{NAME}") if cond.get(
                "status"
            ) == "True" else None, seen

        hpa_name = await box.wait_for(f"KEDA marks ScaledObject {NAME} Ready=True (the KEDA operator runs)", ready)

        async def made() -> tuple[bool | None, str]:
            found = await kube.get(f"{HPA_API}/namespaces/{ns}/horizontalpodautoscalers/{hpa_name}")
            return (True if found else None), f"no HPA {hpa_name} yet"

        await box.wait_for(f"KEDA makes HPA {hpa_name}", made)
    else:
        await box.create(
            f"{HPA_API}/namespaces/{ns}/horizontalpodautoscalers",
            hpa(ns, labels),
            f"create HPA {NAME} (CPU utilization: KEDA is not installed)",
            owned=False,
        )

    first_failure: list[float] = []
    judged: dict[str, str] = {}  # the last judgement: state and api

    async def metric_read() -> tuple[str | None, str]:
        state, api, seen = scaling_state(
            await kube.get(f"{HPA_API}/namespaces/{ns}/horizontalpodautoscalers/{hpa_name}")
        )
        judged.update(state=state, api=api)
        if state != "metric_failed":
            first_failure.clear()
            return (seen if state == "active" else None), seen
        first_failure[:] = first_failure or [box.clock()]
        settled = box.clock() - first_failure[0] >= settle_for(api, snapshot.apiservices)
        return (seen if settled else None), seen

    seen = await box.wait_for(f"the HPA controller reads HPA {hpa_name}'s metric (ScalingActive=True)", metric_read)
    state, api = judged["state"], judged["api"]
    if state != "active":
        box.record.steps[-1] = dataclasses.replace(box.record.steps[-1], ok=False)
    box.record.evidence.append(f"HPA {ns}/{hpa_name}: {seen}")
    if state == "active":
        box.record.outcome = "observed"
        if keda:
            box.record.message = (
                f"a probe saw KEDA reconcile a ScaledObject (Ready=True), make HPA {hpa_name} and the HPA controller "
                "read its external metric through KEDA's metrics adapter (ScalingActive=True)"
            )
            return
        box.record.status, box.record.reason = PARTIAL, NO_CUSTOM_METRICS_API
        box.record.message = (
            f"a probe saw the HPA controller read HPA {hpa_name}'s CPU metric (ScalingActive=True); custom metrics "
            "are not shown: the probe tests them through KEDA (a ScaledObject) where it is installed"
        )
        return
    _, note = apiservice_note(api, snapshot.apiservices)
    what = f"{API_NAMES[api]} ({api}) did not answer: {note}; the HPA controller says {seen}"
    if keda:
        box.record.outcome = "failed"
        box.record.message = (
            f"a probe saw KEDA reconcile a ScaledObject and make HPA {hpa_name}, but the HPA controller cannot read "
            f"its metric: {what}"
        )
        return
    raise ProbeEnded(
        "cannot_run",
        f"the HPA controller could not read HPA {hpa_name}'s CPU metric: {what}; custom metrics are tested through "
        "KEDA where it is installed",
    )
