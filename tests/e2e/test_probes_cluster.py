"""Probes against the dev cluster: dra_support through the real scheduler and ResourceSlices,
secure_accelerator_access's policy part through real admission (Pod Security, DRA's adminAccess rule), the bad
input rules, and gang_scheduling through the real Kueue controller (started for this module's last test only).

Each test prints the probe's time to verdict."""

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
TENANT_LABEL = {"aiconform.io/e2e-probe-tenant": "true"}
DEVICE_CLASS = "e2e-probe-gpu"


def spec_with(**probes: Any) -> ProfileSpec:
    doc = {
        "spec": {
            "tenants": {"namespaceSelector": {"matchLabels": TENANT_LABEL}},
            "probes": {"timeoutSeconds": 60, "namespacePrefix": "e2e-probe-", **probes},
        }
    }
    return validate_profile(doc).spec


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


def probe_namespaces(cluster: Cluster, probe_name: str) -> list[dict[str, Any]]:
    out = cluster.get_json("namespaces", "-l", f"aiconform.io/probe={probe_name}")
    return [ns for ns in out["items"] if not ns["metadata"].get("deletionTimestamp")]


def apply(cluster: Cluster, *docs: dict[str, Any]) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=aiconform-e2e", "-f", "-", input=yaml.safe_dump_all(list(docs))
    )


@pytest.fixture
def device_class(cluster: Cluster) -> Iterator[str]:
    apply(
        cluster,
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": DEVICE_CLASS},
            "spec": {"selectors": [{"cel": {"expression": 'device.driver == "gpu.nvidia.com"'}}]},
        },
    )
    yield DEVICE_CLASS
    cluster.kubectl("delete", "deviceclass", DEVICE_CLASS, "--ignore-not-found", check=False)


@pytest.fixture
def tenant(cluster: Cluster) -> Iterator[Any]:
    made: list[str] = []

    def create(name: str, labels: dict[str, str]) -> str:
        apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
        made.append(name)
        return name

    yield create
    for name in made:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_dra_probe_sees_a_device_allocated_and_the_pod_bound(cluster: Cluster, device_class: str) -> None:
    verdict, took = probe(cluster, "dra_support", spec_with())
    assert (verdict.status, verdict.reason, verdict.tier) == ("Implemented", "BehaviourObserved", "Observed"), verdict
    assert "gpu.nvidia.com/" in verdict.message and "bind the claiming pod to node kwok-" in verdict.message
    assert any(e.startswith("ResourceClaim ") and " allocated gpu.nvidia.com/" in e for e in verdict.evidence)
    text = verdict.transcript[0]
    for step in ("create ResourceClaimTemplate", "the scheduler allocates a device", "the scheduler binds the pod"):
        assert f"ok   {step}" in text, text
    assert "cleanup: deleted Namespace e2e-probe-dra-" in text
    assert took < 30
    assert not probe_namespaces(cluster, "dra-support"), "the sandbox namespace is being removed"


def test_secure_probe_records_each_refusal(cluster: Cluster, device_class: str, tenant: Any) -> None:
    ns = tenant("e2e-probes-tenant-a", {**TENANT_LABEL, "pod-security.kubernetes.io/enforce": "restricted"})
    verdict, took = probe(cluster, "secure_accelerator_access", spec_with())
    assert (verdict.status, verdict.reason, verdict.tier) == ("Partially Implemented", "NeedsHardwareTest", "Observed")
    assert condition_status(verdict) == "Unknown"
    refused = [e for e in verdict.evidence if e.startswith("refused ")]
    assert len(refused) == 3, verdict.evidence
    assert any("privileged pod" in e and "violates PodSecurity" in e for e in refused)
    assert any("hostPath /dev" in e and "hostPath" in e for e in refused)
    assert any("adminAccess" in e and "admin-access" in e for e in refused)
    assert f"tenant namespace {ns}" in verdict.message and "run the isolation test on GPU nodes" in verdict.message
    assert not cluster.get_json("pods", "-n", ns)["items"], "a dry-run created nothing"
    assert took < 10


def test_secure_probe_fails_where_a_tenant_may_run_privileged(cluster: Cluster, tenant: Any) -> None:
    ns = tenant("e2e-probes-tenant-b", dict(TENANT_LABEL))
    verdict, _ = probe(cluster, "secure_accelerator_access", spec_with())
    assert (verdict.status, verdict.reason, verdict.tier) == ("Not Implemented", "ProbeFailed", "Observed"), verdict
    assert condition_status(verdict) == "False"
    assert "a privileged pod: admitted" in verdict.message and ns in verdict.message


def test_a_prefix_selecting_a_foreign_namespace_is_refused(cluster: Cluster, device_class: str, tenant: Any) -> None:
    tenant("e2e-probeprefix-someones", {})
    verdict, _ = probe(cluster, "dra_support", spec_with(namespacePrefix="e2e-probeprefix-"))
    assert (verdict.reason, condition_status(verdict)) == ("ProbeNamespaceRefused", "Unknown"), verdict
    assert "e2e-probeprefix-someones" in verdict.message
    assert not probe_namespaces(cluster, "dra-support")


def test_nothing_to_test_is_said(cluster: Cluster) -> None:
    cluster.kubectl("delete", "deviceclass", DEVICE_CLASS, "--ignore-not-found", check=False)
    if cluster.get_json("deviceclasses")["items"]:
        pytest.skip("the cluster has DeviceClasses of others")
    verdict, _ = probe(cluster, "dra_support", spec_with())
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown")
    assert "no DeviceClass selects" in verdict.message


# --- gang_scheduling through the real Kueue controller (last: it starts Kueue, then stops it) ------------------


@pytest.fixture(scope="module")
def kueue(cluster: Cluster) -> Iterator[Path]:
    from aiconform.devtools.devcluster.controllers import start_controllers, stop_controllers

    root = Path(cluster.kubeconfig).parent
    if not (root / "state.json").is_file():
        pytest.skip(f"$KUBECONFIG is not a cluster made by `aiconform dev-cluster` ({cluster.kubeconfig})")
    say = lambda line: print(f"[probes] {line}", file=sys.stderr, flush=True)  # noqa: E731
    ours = start_controllers(root, ["kueue"], say)
    try:
        yield root
    finally:
        stop_controllers(root, ours, say)


def test_gang_probe_without_kueue_crds_cannot_run(cluster: Cluster) -> None:
    if "clusterqueues.kueue.x-k8s.io" in cluster.kubectl("get", "crd", "-o", "name", check=False).stdout:
        pytest.skip("Kueue's CRDs are installed on this cluster")
    verdict, _ = probe(cluster, "gang_scheduling", spec_with())
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown")
    assert "never installs one" in verdict.message


def test_gang_probe_through_real_kueue(cluster: Cluster, kueue: Path) -> None:
    verdict, took = probe(cluster, "gang_scheduling", spec_with())
    assert (verdict.status, verdict.reason, verdict.tier) == ("Implemented", "BehaviourObserved", "Observed"), verdict
    text = verdict.transcript[0]
    for step in (
        "Kueue marks the ClusterQueue Active",
        "Kueue judges the Job's Workload against the quota",
        "the Job stays suspended and no pod starts",
        "Kueue admits the Job whole and resumes it",
        "all 2 pods start",
    ):
        assert f"ok   {step}" in text, text
    assert any("QuotaReserved=False" in e and "insufficient quota" in e for e in verdict.evidence), verdict.evidence
    assert took < 60
    leftovers = cluster.get_json("clusterqueues.kueue.x-k8s.io", "-l", "aiconform.io/probe=gang-scheduling")
    cluster.wait_for(
        "the probe's ClusterQueue and namespace gone",
        lambda: (
            not [
                o
                for o in cluster.get_json("clusterqueues.kueue.x-k8s.io", "-l", "aiconform.io/probe=gang-scheduling")[
                    "items"
                ]
            ]
            and not probe_namespaces(cluster, "gang-scheduling")
        ),
        timeout=60,
    )
    del leftovers
