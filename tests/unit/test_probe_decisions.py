"""The pure decisions of the ai_inference, robust_controller and pod_autoscaling probes: which GatewayClass, when
a Gateway is Programmed and a route Accepted (by whom), what counts as a refusal and a reconcile, what the HPA
controller's ScalingActive says and which metrics API it names. Their I/O runs on the dev cluster
(tests/e2e/test_probes_more.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast, get_args

import pytest

from aiconform.api.models import ProbeName, ProbesSpec
from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.probes import PROBES
from aiconform.probes.autoscaling import (
    SETTLE_NOTHING_ANSWERS,
    SETTLE_WARMING,
    apiservice_note,
    scaled_object,
    scaling_state,
    settle_for,
)
from aiconform.probes.autoscaling import hpa as hpa_body
from aiconform.probes.inference import accepted_class, gateway_body, gateway_state, route_body, route_state
from aiconform.probes.record import Record, condition_of, condition_text, namespace_name
from aiconform.probes.robust import TARGETS, invalid_objects, reconciled, refusal
from aiconform.probes.sandbox import Sandbox, StepTimedOut

LABELS = {"app.kubernetes.io/managed-by": "aiconform", "aiconform.io/probe": "x", "aiconform.io/probe-run": "r"}


def cond(ctype: str, status: str, reason: str = "", message: str = "", gen: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ctype, "status": status, "reason": reason, "message": message}
    if gen is not None:
        out["observedGeneration"] = gen
    return out


def obj(name: str, generation: int = 1, *conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name, "generation": generation}}
    if conditions or status:
        body["status"] = {**status, **({"conditions": list(conditions)} if conditions else {})}
    return body


# --- the probe names ----------------------------------------------------------------------------------------------


def test_every_probe_name_the_profile_accepts_runs() -> None:
    assert set(get_args(ProbeName)) == set(PROBES)
    every = list(get_args(ProbeName))
    assert ProbesSpec(run=every).run == every  # all six at once


def test_sandbox_names() -> None:
    assert namespace_name("aiconform-probe-", "ai_inference", "abc") == "aiconform-probe-inference-abc"
    assert namespace_name("aiconform-probe-", "robust_controller", "abc") == "aiconform-probe-robust-abc"
    assert namespace_name("aiconform-probe-", "pod_autoscaling", "abc") == "aiconform-probe-autoscaling-abc"


def test_condition_text() -> None:
    assert condition_text({}, "Ready") == "Ready unset"
    assert condition_text(cond("Ready", "False", "Err", "boom"), "Ready") == "Ready=False (Err: boom)"
    assert condition_of(obj("x", 1, cond("Ready", "True")), "Ready")["status"] == "True"
    assert condition_of(None, "Ready") == {}


# --- ai_inference -------------------------------------------------------------------------------------------------


def test_no_gateway_class_is_said() -> None:
    assert accepted_class([]) == (None, "no GatewayClass exists")


def test_only_a_class_accepted_at_its_generation_is_used() -> None:
    waiting = obj("a-waiting", 1, cond("Accepted", "Unknown", "Pending", "Waiting for controller"))
    stale = obj("b-stale", 2, cond("Accepted", "True", "Accepted", gen=1))
    bare = obj("c-bare")
    chosen, why = accepted_class([waiting, stale, bare])
    assert chosen is None
    assert "no GatewayClass is Accepted at its current generation" in why
    for text in ("a-waiting", "Waiting for controller", "b-stale", "observedGeneration 1 < generation 2", "c-bare"):
        assert text in why, why
    live = obj("z-live", 3, cond("Accepted", "True", "Accepted", gen=3))
    live2 = obj("y-live", 1, cond("Accepted", "True", gen=1))
    assert accepted_class([waiting, live, live2]) == ("y-live", "")


def test_gateway_programmed_only_when_current() -> None:
    assert gateway_state(None) == (False, "Gateway not found")
    assert gateway_state(obj("g", 1, cond("Programmed", "True", "Programmed", gen=1)))[0]
    pending = gateway_state(obj("g", 1, cond("Programmed", "Unknown", "Pending", "Waiting for controller")))
    assert pending == (False, "Programmed=Unknown (Pending: Waiting for controller)")
    stale = gateway_state(obj("g", 2, cond("Programmed", "True", gen=1)))
    assert not stale[0] and "observedGeneration 1 < generation 2" in stale[1]
    refused = gateway_state(obj("g", 1, cond("Programmed", "False", "Invalid", "no address", gen=1)))
    assert refused == (False, "Programmed=False (Invalid: no address)")


def route(generation: int = 1, *parents: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "probe", "generation": generation}, "status": {"parents": list(parents)}}


def parent(controller: str, *conditions: dict[str, Any], gateway: str = "probe") -> dict[str, Any]:
    return {"parentRef": {"name": gateway}, "controllerName": controller, "conditions": list(conditions)}


def test_route_is_judged_by_the_class_controllers_entry() -> None:
    mine = "example.com/gw"
    assert route_state(None, "probe", mine) == ("pending", "HTTPRoute not found")
    assert route_state(route(1), "probe", mine)[0] == "pending"
    # Another implementation's entry, or one for another Gateway, is not the answer.
    other = route(
        1,
        parent("other.io/gw", cond("Accepted", "True", gen=1)),
        parent(mine, cond("Accepted", "True", gen=1), gateway="x"),
    )
    assert route_state(other, "probe", mine)[0] == "pending"
    accepted = route(1, parent(mine, cond("Accepted", "True", "Accepted", gen=1)))
    assert route_state(accepted, "probe", mine) == ("accepted", "Accepted=True (Accepted)")
    stale = route(2, parent(mine, cond("Accepted", "True", gen=1)))
    assert route_state(stale, "probe", mine)[0] == "pending"
    unsupported = route(1, parent(mine, cond("Accepted", "False", "UnsupportedValue", "weights unsupported", gen=1)))
    assert route_state(unsupported, "probe", mine) == (
        "refused",
        "Accepted=False (UnsupportedValue: weights unsupported)",
    )
    # A listener mismatch or a parent not seen yet is waited out, not held against the implementation.
    not_allowed = route(1, parent(mine, cond("Accepted", "False", "NotAllowedByListeners", gen=1)))
    assert route_state(not_allowed, "probe", mine)[0] == "pending"


def test_route_and_gateway_bodies() -> None:
    gw = gateway_body("ns", "cls", LABELS)
    assert gw["spec"]["gatewayClassName"] == "cls"
    assert gw["spec"]["listeners"][0]["allowedRoutes"] == {"namespaces": {"from": "Same"}}
    rules = route_body("ns", LABELS)["spec"]["rules"]
    assert rules[0]["matches"] == [{"headers": [{"name": "x-model", "value": "canary"}]}]
    assert [b["weight"] for b in rules[1]["backendRefs"]] == [90, 10]


# --- robust_controller --------------------------------------------------------------------------------------------


def test_refusal() -> None:
    assert refusal(None) == "admitted"
    assert refusal(KubeApiError(422, 'RayCluster "x" is invalid: spec.headGroupSpec: Required value')) == "refused"
    assert refusal(KubeApiError(400, 'strict decoding error: unknown field "spec.headGroupSpecs"')) == "refused"
    assert refusal(KubeApiError(403, 'admission webhook "validate.ray.io" denied the request')) == "refused"
    assert refusal(KubeApiError(403, "exceeded quota: probe")) == "inconclusive"
    assert refusal(KubeApiError(500, "etcd timeout")) == "inconclusive"


def test_reconciled_needs_a_status_for_the_current_generation() -> None:
    assert reconciled(None) == (False, "not found")
    assert reconciled(obj("c", 1)) == (False, "no status (the operator has not reconciled it)")
    ok, seen = reconciled(obj("c", 1, cond("HeadPodReady", "False", gen=1), state="", observedGeneration=1))
    assert ok and seen == "state unset, observedGeneration 1, conditions HeadPodReady=False"
    behind, _ = reconciled(obj("c", 2, state="ready", observedGeneration=1))
    assert not behind
    assert not reconciled(obj("c", 1, state="ready"))[0]  # no generation recorded: not shown current


def test_reconciled_says_what_each_operator_wrote() -> None:
    lws = obj("c", 3, cond("Available", "True", gen=3), observedGeneration=3, replicas=1)
    assert reconciled(lws) == (True, "observedGeneration 3, replicas 1, conditions Available=True")


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.label)
def test_invalid_and_valid_objects(target: Any) -> None:
    invalid = invalid_objects(target, "ns", LABELS)
    assert [strict for _, _, strict in invalid] == [False, True]
    schema, unknown = invalid[0][1], invalid[1][1]
    assert schema["kind"] == unknown["kind"] == target.kind
    assert schema["spec"] == target.against_schema
    # The misspelt object is the valid one plus the misspelt field: only strict validation refuses it.
    assert unknown["spec"] == {**target.valid(LABELS), target.misspelt: {}}
    assert target.collection.endswith(f"/{target.plural}") and "{ns}" in target.collection
    spec = target.valid(LABELS)
    templates = [
        spec.get("headGroupSpec", {}).get("template"),
        spec.get("leaderWorkerTemplate", {}).get("workerTemplate"),
    ]
    (pod,) = [t["spec"] for t in templates if t]
    # Restricted Pod Security holds for the pod the operator makes, and it fits the quota.
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["requests"] == container["resources"]["limits"]


# --- pod_autoscaling ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "api"),
    [
        ("FailedGetResourceMetric", "metrics.k8s.io"),
        ("FailedGetContainerResourceMetric", "metrics.k8s.io"),
        ("FailedGetPodsMetric", "custom.metrics.k8s.io"),
        ("FailedGetObjectMetric", "custom.metrics.k8s.io"),
        ("FailedGetExternalMetric", "external.metrics.k8s.io"),
    ],
)
def test_a_metric_failure_names_its_api(reason: str, api: str) -> None:
    hpa = obj("h", 1, cond("ScalingActive", "False", reason, "unable to get metric"), observedGeneration=1)
    assert scaling_state(hpa) == ("metric_failed", api, f"ScalingActive=False ({reason}: unable to get metric)")


def test_scaling_state() -> None:
    assert scaling_state(None) == ("pending", "", "HPA not found")
    assert scaling_state(obj("h", 1))[0] == "pending"  # the HPA controller has not run it
    active = obj("h", 1, cond("ScalingActive", "True", "ValidMetricFound"), observedGeneration=1)
    assert scaling_state(active) == ("active", "", "ScalingActive=True (ValidMetricFound)")
    stale = obj("h", 2, cond("ScalingActive", "True"), observedGeneration=1)
    assert scaling_state(stale)[0] == "pending"
    disabled = obj("h", 1, cond("ScalingActive", "False", "ScalingDisabled"), observedGeneration=1)
    assert scaling_state(disabled)[0] == "pending"  # scaled to zero: neither for nor against


def apiservice(name: str, available: str) -> dict[str, Any]:
    conds = [cond("Available", available, "FailedDiscoveryCheck" if available == "False" else "Passed")]
    return {"metadata": {"name": name}, "status": {"conditions": conds}}


def test_apiservice_note_and_settle() -> None:
    services = [
        apiservice("v1beta1.custom.metrics.k8s.io", "True"),
        apiservice("v1beta1.external.metrics.k8s.io", "False"),
    ]
    assert apiservice_note("metrics.k8s.io", services) == (False, "no APIService registers metrics.k8s.io")
    live, note = apiservice_note("custom.metrics.k8s.io", services)
    assert live and note == "APIService v1beta1.custom.metrics.k8s.io Available=True (Passed)"
    down, note = apiservice_note("external.metrics.k8s.io", services)
    assert not down and "Available=False (FailedDiscoveryCheck)" in note
    # Where nothing can answer, a failure counts sooner than where an adapter may be warming up.
    assert settle_for("external.metrics.k8s.io", services) == SETTLE_NOTHING_ANSWERS
    assert settle_for("custom.metrics.k8s.io", services) == SETTLE_WARMING
    assert SETTLE_NOTHING_ANSWERS < SETTLE_WARMING


def test_autoscaler_bodies_are_bounded_and_need_nothing_outside() -> None:
    so = scaled_object("ns", LABELS)["spec"]
    assert so["maxReplicaCount"] == 2 and so["minReplicaCount"] == 1
    assert [t["type"] for t in so["triggers"]] == ["cron"]  # computed by KEDA itself: no server to query
    hpa = hpa_body("ns", LABELS)["spec"]
    assert hpa["maxReplicas"] == 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"


# --- the sandbox's create retry (a fake client: only the retry rule is under test) ----------------------------


class _Quota403:
    """Answers a POST with quota admission's transient 403 `times` times, then with the object."""

    def __init__(self, times: int, message: str = "status unknown for quota: probe") -> None:
        self.times, self.message, self.posts = times, message, 0

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.posts += 1
        if self.posts <= self.times:
            raise KubeApiError(403, f'gateways "probe" is forbidden: {self.message}')
        return {"kind": "Gateway"}


def _box(kube: _Quota403, timeout: float = 5.0) -> Sandbox:
    return Sandbox(cast(KubeClient, kube), Record(probe="ai_inference"), prefix="p-", timeout=timeout)


GATEWAY = {"kind": "Gateway", "metadata": {"name": "probe", "namespace": "p"}}


def test_a_create_is_retried_while_quota_admission_has_not_seen_the_quota() -> None:
    kube = _Quota403(times=2)
    box = _box(kube)
    assert asyncio.run(box.create("/apis/x/gateways", GATEWAY, "create Gateway probe", owned=False)) == {
        "kind": "Gateway"
    }
    assert kube.posts == 3 and box.record.steps[-1].ok


def test_another_refusal_ends_the_retry() -> None:
    kube = _Quota403(times=100, message="exceeded quota: probe")
    box = _box(kube)
    with pytest.raises(KubeApiError):
        asyncio.run(box.create("/apis/x/gateways", GATEWAY, "create Gateway probe", owned=False))
    assert kube.posts == 1 and not box.record.steps[-1].ok


def test_quota_status_still_unknown_at_the_deadline_times_the_step_out() -> None:
    kube = _Quota403(times=100)
    box = _box(kube, timeout=0.0)
    with pytest.raises(StepTimedOut) as ended:
        asyncio.run(box.create("/apis/x/gateways", GATEWAY, "create Gateway probe", owned=False))
    assert kube.posts == 1 and ended.value.step == "create Gateway probe"
    assert "status unknown for quota: probe" in ended.value.message
    assert "the quota controller has not counted this kind yet" in ended.value.message
    step = box.record.steps[-1]
    assert (step.name, step.ok) == ("create Gateway probe", False) and "timed out" in step.detail
    assert box.record.objects == []
