"""The ai_inference, robust_controller and pod_autoscaling probes on the dev cluster's real API server and
controllers. Each test prints the probe's time to verdict and its transcript.

No Gateway API implementation and no KubeRay or LeaderWorkerSet operator run in the dev cluster, so those two
probes are shown saying they cannot run, refusing at admission for real (the upstream CRDs' schemas), and timing out
honestly, naming the step, with everything removed. pod_autoscaling meets the real HPA controller
(kube-controller-manager) and, last in this module, the real KEDA operator: neither has a metrics adapter to read
from, and the probe says which metrics API did not answer.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster

from aiconform.api.models import ProfileSpec, validate_profile
from aiconform.conformance.verdict import Verdict, condition_status
from aiconform.kube.client import KubeClient, load_credentials
from aiconform.kube.collect import collect
from aiconform.probes import run_probe

pytestmark = pytest.mark.e2e
PREFIX = "e2e-probe14-"
GATEWAY_CLASS = "e2e-probe-gone"
GROUP = "gateway.networking.k8s.io"
# KubeRay's and LeaderWorkerSet's modules, read from the Go module cache like the other upstream CRDs (nothing
# committed).
KUBERAY_MODULE, KUBERAY_VERSION = "github.com/ray-project/kuberay/ray-operator", "v1.6.2"
RAYCLUSTERS = "rayclusters.ray.io"
LWS_MODULE, LWS_VERSION = "sigs.k8s.io/lws", "v0.9.0"
LEADERWORKERSETS = "leaderworkersets.leaderworkerset.x-k8s.io"


def spec_with(timeout: int = 10) -> ProfileSpec:
    return validate_profile({"spec": {"probes": {"timeoutSeconds": timeout, "namespacePrefix": PREFIX}}}).spec


def probe(cluster: Cluster, name: str, spec: ProfileSpec) -> tuple[Verdict, float]:
    async def go() -> tuple[Verdict, float]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig)), user_agent="aiconform-e2e-probe") as kube:
            snapshot = await collect(kube, scrape=False)
            started = time.monotonic()
            verdict = await run_probe(kube, name, spec, snapshot)
            return verdict, time.monotonic() - started

    verdict, took = asyncio.run(go())
    print(f"\n[probes] {name}: {verdict.status} ({verdict.reason}, {verdict.tier}) in {took:.1f}s", file=sys.stderr)
    print(verdict.transcript[0] if verdict.transcript else "(no transcript)", file=sys.stderr)
    return verdict, took


def sandboxes(cluster: Cluster, probe_label: str, *, terminating: bool = False) -> list[str]:
    out = cluster.get_json("namespaces", "-l", f"aiconform.io/probe={probe_label}")["items"]
    return [ns["metadata"]["name"] for ns in out if terminating or not ns["metadata"].get("deletionTimestamp")]


def served(cluster: Cluster, resource: str) -> bool:
    return cluster.kubectl("get", resource, "-A", "--request-timeout=10s", check=False).returncode == 0


def apply(cluster: Cluster, *docs: dict[str, Any]) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=aiconform-e2e", "-f", "-", input=yaml.safe_dump_all(list(docs))
    )


def install_crds(cluster: Cluster, crds: list[dict[str, Any]]) -> list[str]:
    from aiconform.devtools.devcluster import upstream

    async def go() -> list[str]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            for crd in crds:
                await kube.apply(crd, field_manager="aiconform-e2e")
            names = [crd["metadata"]["name"] for crd in crds]
            await upstream.wait_established(kube, names, 60)
            return names

    return asyncio.run(go())


def counted_by_quota(cluster: Cluster, resources: list[str]) -> None:
    """Wait until the quota controller counts `resources` in a new quota. It learns new kinds by discovery (every
    30 s) but recounts an existing quota only on its resync (5 min) or a change of its spec: so the watch quota's
    spec is changed on each poll (a quota made before discovery stays "unknown" for minutes otherwise)."""
    ns = "e2e-quota-watch"  # outside the probes' prefix: a foreign namespace there stops a run
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    polls = iter(range(1, 1000))

    def counted() -> bool:
        hard = dict.fromkeys(resources, "1") | {"pods": str(next(polls))}
        quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "watch", "namespace": ns}}
        apply(cluster, quota | {"spec": {"hard": hard}})
        time.sleep(1.0)
        used = (cluster.get_json("resourcequota", "watch", "-n", ns).get("status") or {}).get("used") or {}
        return set(resources) <= set(used)

    try:
        cluster.wait_for(f"the quota controller counting {', '.join(resources)}", counted, timeout=90, interval=1.0)
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


# --- ai_inference ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_api(cluster: Cluster) -> Iterator[None]:
    from aiconform.devtools.devcluster import upstream

    install_crds(cluster, upstream.load_crds("gateway-api"))
    # The probe's sandbox quota counts Gateways and HTTPRoutes. Quota admission refuses such objects ("status
    # unknown") until kube-controller-manager's quota controller has discovered the new kinds (every 30 s): wait
    # for that here, so the tests below meet the step they are about (the unknown quota itself is unit-tested).
    counted_by_quota(cluster, [f"count/gateways.{GROUP}", f"count/httproutes.{GROUP}"])
    yield
    cluster.kubectl("delete", "gatewayclass", GATEWAY_CLASS, "--ignore-not-found", check=False)


def gateway_class(cluster: Cluster, accepted: bool) -> None:
    apply(
        cluster,
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": "e2e.aiconform.io/stopped"},
        },
    )
    if accepted:
        # Cluster state, not a stand-in controller: a class its controller accepted once, the controller since
        # stopped. Nothing acts on the probe's Gateway, so nothing vouches for the probe's success path here.
        status = {
            "status": {
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": "True",
                        "reason": "Accepted",
                        "message": "accepted before its controller stopped",
                        "observedGeneration": 1,
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ]
            }
        }
        cluster.kubectl(
            "patch", "gatewayclass", GATEWAY_CLASS, "--subresource=status", "--type=merge", "-p", yaml.safe_dump(status)
        )


def test_inference_without_an_accepted_gateway_class_cannot_run(cluster: Cluster, gateway_api: None) -> None:
    others = [c["metadata"]["name"] for c in cluster.get_json("gatewayclasses")["items"]]
    if [c for c in others if c != GATEWAY_CLASS]:
        pytest.skip(f"the cluster has GatewayClasses of others: {others}")
    cluster.kubectl("delete", "gatewayclass", GATEWAY_CLASS, "--ignore-not-found", check=False)
    verdict, took = probe(cluster, "ai_inference", spec_with())
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown"), verdict
    assert "no GatewayClass exists" in verdict.message
    gateway_class(cluster, accepted=False)
    verdict, took = probe(cluster, "ai_inference", spec_with())
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown"), verdict
    # What the class says (the CRD's default condition: no controller ever answered) is named.
    assert f"{GATEWAY_CLASS} (Accepted=Unknown (Pending: Waiting for controller))" in verdict.message
    assert took < 5 and not sandboxes(cluster, "ai-inference")


def test_inference_times_out_naming_the_step_and_removes_everything(cluster: Cluster, gateway_api: None) -> None:
    gateway_class(cluster, accepted=True)
    verdict, took = probe(cluster, "ai_inference", spec_with(timeout=10))
    assert (verdict.status, verdict.reason, verdict.tier) == ("Not Implemented", "ProbeTimedOut", "APIPresence")
    assert condition_status(verdict) == "Unknown"
    assert (
        "timed out after 10s waiting for: e2e.aiconform.io/stopped programs Gateway probe (Programmed=True) "
        "(last seen: Programmed=Unknown (Pending: Waiting for controller))"
    ) in verdict.message
    text = verdict.transcript[0]
    for step in ("create Service canary", "create Gateway probe", "create HTTPRoute probe (a 90/10 weighted split"):
        assert f"ok   {step}" in text, text
    assert "FAIL e2e.aiconform.io/stopped programs Gateway probe" in text
    assert f"cleanup: deleted Namespace {PREFIX}inference-" in text
    assert 10 <= took < 20
    cluster.wait_for("the sandbox gone", lambda: not sandboxes(cluster, "ai-inference", terminating=True), timeout=60)


# --- robust_controller ----------------------------------------------------------------------------------------


def upstream_crd(cluster: Cluster, module: str, version: str, path: str) -> Iterator[str]:
    """One CRD from an upstream Go module in the module cache, removed again: scenario files bring their own."""
    from aiconform.devtools.devcluster import upstream

    crd = yaml.safe_load((upstream.module_dir(module, version) / path).read_text())
    (name,) = install_crds(cluster, [crd])
    yield name
    cluster.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true", check=False)


@pytest.fixture
def raycluster_crd(cluster: Cluster) -> Iterator[str]:
    yield from upstream_crd(cluster, KUBERAY_MODULE, KUBERAY_VERSION, "config/crd/bases/ray.io_rayclusters.yaml")


@pytest.fixture
def lws_crd(cluster: Cluster) -> Iterator[str]:
    yield from upstream_crd(
        cluster, LWS_MODULE, LWS_VERSION, "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml"
    )


def test_robust_without_an_operator_api_cannot_run(cluster: Cluster) -> None:
    if served(cluster, RAYCLUSTERS) or served(cluster, LEADERWORKERSETS):
        pytest.skip("the RayCluster or LeaderWorkerSet API is served on this cluster")
    verdict, took = probe(cluster, "robust_controller", spec_with())
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown"), verdict
    assert "no API of an AI operator the probe knows is served (KubeRay (ray.io/v1 RayCluster), " in verdict.message
    assert "never installs one" in verdict.message and took < 5


def test_robust_refuses_invalid_rayclusters_for_real_then_times_out_without_operator(
    cluster: Cluster, raycluster_crd: str
) -> None:
    verdict, took = probe(cluster, "robust_controller", spec_with(timeout=10))
    assert (verdict.reason, condition_status(verdict)) == ("ProbeTimedOut", "Unknown"), verdict
    assert (
        "waiting for: the KubeRay operator reconciles RayCluster canary (status for its generation) "
        "(last seen: no status (the operator has not reconciled it))"
    ) in verdict.message
    text = verdict.transcript[0]
    # The real API server refused both, each for its own reason (the upstream schema, strict field validation).
    assert "spec.headGroupSpec: Required value" in text and "must be of type array" in text, text
    assert 'strict decoding error: unknown field "spec.headGroupSpecs"' in text, text
    assert text.count(": refused\n") == 2 and "ok   create RayCluster canary (minimal: one pod)" in text
    assert f"cleanup: deleted Namespace {PREFIX}robust-" in text
    assert 10 <= took < 20
    cluster.wait_for(
        "the sandbox gone", lambda: not sandboxes(cluster, "robust-controller", terminating=True), timeout=60
    )
    assert not cluster.get_json(RAYCLUSTERS, "-A")["items"], "the dry-runs created nothing, the canary is gone"


def test_robust_through_leaderworkerset_when_kuberay_is_absent(cluster: Cluster, lws_crd: str) -> None:
    if served(cluster, RAYCLUSTERS):
        pytest.skip("the RayCluster API is served on this cluster: the probe tests KubeRay first")
    verdict, took = probe(cluster, "robust_controller", spec_with(timeout=10))
    assert (verdict.reason, condition_status(verdict)) == ("ProbeTimedOut", "Unknown"), verdict
    assert "the LeaderWorkerSet operator reconciles LeaderWorkerSet canary" in verdict.message
    text = verdict.transcript[0]
    assert "spec.leaderWorkerTemplate: Required value" in text and "spec.replicas" in text, text
    assert 'strict decoding error: unknown field "spec.leaderWorkerTemplates"' in text, text
    assert text.count(": refused\n") == 2 and "ok   create LeaderWorkerSet canary (minimal: one pod)" in text
    assert 10 <= took < 20
    cluster.wait_for(
        "the sandbox gone", lambda: not sandboxes(cluster, "robust-controller", terminating=True), timeout=60
    )


# --- pod_autoscaling ------------------------------------------------------------------------------------------


def test_autoscaling_through_the_real_hpa_controller_names_the_metrics_api(cluster: Cluster) -> None:
    if served(cluster, "scaledobjects.keda.sh"):
        pytest.skip("KEDA's CRDs are installed on this cluster: the probe takes the ScaledObject path")
    if [s for s in cluster.get_json("apiservices")["items"] if s["metadata"]["name"] == "v1beta1.metrics.k8s.io"]:
        pytest.skip("a resource metrics API is registered on this cluster")
    verdict, took = probe(cluster, "pod_autoscaling", spec_with(timeout=60))
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown"), verdict
    # kube-controller-manager's HPA controller itself said it: no metrics-server in the dev cluster.
    assert "the resource metrics API (metrics.k8s.io) did not answer: no APIService registers metrics.k8s.io" in (
        verdict.message
    )
    assert "FailedGetResourceMetric" in verdict.message
    text = verdict.transcript[0]
    assert "ok   create HPA canary (CPU utilization: KEDA is not installed)" in text
    assert "FAIL the HPA controller reads HPA canary's metric (ScalingActive=True)" in text
    assert took < 45
    cluster.wait_for(
        "the sandbox gone", lambda: not sandboxes(cluster, "pod-autoscaling", terminating=True), timeout=60
    )


@pytest.fixture(scope="module")
def keda(cluster: Cluster) -> Iterator[Path]:
    from aiconform.devtools.devcluster.controllers import start_controllers, stop_controllers

    root = Path(cluster.kubeconfig).parent
    if not (root / "state.json").is_file():
        pytest.skip(f"$KUBECONFIG is not a cluster made by `aiconform dev-cluster` ({cluster.kubeconfig})")
    say = lambda line: print(f"[probes] {line}", file=sys.stderr, flush=True)  # noqa: E731
    ours = start_controllers(root, ["keda"], say)
    try:
        yield root
    finally:
        stop_controllers(root, ours, say)


def test_autoscaling_through_real_keda_names_the_external_metrics_api(cluster: Cluster, keda: Path) -> None:
    verdict, took = probe(cluster, "pod_autoscaling", spec_with(timeout=60))
    # KEDA's operator runs, its metrics adapter does not (docs/dev-cluster.md): custom-metric scaling cannot work,
    # and the HPA controller says so. That is observed, not guessed: ProbeFailed, condition False.
    assert (verdict.status, verdict.reason, verdict.tier) == ("Not Implemented", "ProbeFailed", "Observed"), verdict
    assert condition_status(verdict) == "False"
    assert "the external metrics API (external.metrics.k8s.io) did not answer" in verdict.message
    assert "FailedGetExternalMetric" in verdict.message
    text = verdict.transcript[0]
    for step in (
        "KEDA marks ScaledObject canary Ready=True (the KEDA operator runs)",
        "KEDA makes HPA keda-hpa-canary",
    ):
        assert f"ok   {step}" in text, text
    assert "FAIL the HPA controller reads HPA keda-hpa-canary's metric" in text
    assert took < 45
    # KEDA's finalizer on the ScaledObject is released while KEDA still runs.
    cluster.wait_for(
        "the sandbox gone", lambda: not sandboxes(cluster, "pod-autoscaling", terminating=True), timeout=60
    )
