"""The gang_scheduling probe's Volcano variant on the dev cluster's real API server, without a Volcano scheduler.

The Volcano PodGroup and Queue CRDs are generated at test time from the upstream Go module's types
(`volcano.sh/apis`, the module that defines them; its repository holds no CRD files) with controller-gen, both
read from the Go module cache and built into the aiconform cache; nothing of theirs is committed. They are
removed after the module. No Volcano scheduler runs here, so the probe is shown choosing the variant, saying
when there is no queue, and timing out at the scheduler's first step with everything removed; and the real
kube-scheduler is shown leaving pods with `schedulerName: volcano` alone (it binds a default pod beside them).

The KAI Scheduler's Go module could not be fetched from the module proxy here, so its variant has unit tests
only (tests/unit/test_podgroup_decisions.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
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
from aiconform.kube.snapshot import Snapshot
from aiconform.probes import podgroups, run_probe

pytestmark = pytest.mark.e2e
PREFIX = "e2e-probegang-"
VOLCANO_APIS, VOLCANO_VERSION = "volcano.sh/apis", "v1.14.0"
CONTROLLER_TOOLS, CONTROLLER_GEN_VERSION = "sigs.k8s.io/controller-tools", "v0.19.0"
PODGROUPS, QUEUES = "podgroups.scheduling.volcano.sh", "queues.scheduling.volcano.sh"
TEST_NS = "e2e-gang-control"


def spec_with(timeout: int = 10) -> ProfileSpec:
    return validate_profile({"spec": {"probes": {"timeoutSeconds": timeout, "namespacePrefix": PREFIX}}}).spec


def probe(cluster: Cluster, spec: ProfileSpec) -> tuple[Verdict, float, str | None]:
    """The probe's verdict, its time to verdict, and the variant the real cluster's snapshot chose."""

    async def go() -> tuple[Verdict, float, str | None]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig)), user_agent="aiconform-e2e-probe") as kube:
            snapshot = without_kueue(await collect(kube, scrape=False))
            variant, _ = podgroups.choose(snapshot)
            started = time.monotonic()
            verdict = await run_probe(kube, "gang_scheduling", spec, snapshot)
            return verdict, time.monotonic() - started, variant

    verdict, took, variant = asyncio.run(go())
    print(
        f"\n[probes] gang_scheduling ({variant}): {verdict.status} ({verdict.reason}) in {took:.1f}s", file=sys.stderr
    )
    print(verdict.transcript[0] if verdict.transcript else "(no transcript)", file=sys.stderr)
    return verdict, took, variant


def without_kueue(snapshot: Snapshot) -> Snapshot:
    """The snapshot of this cluster as one without Kueue would show it. Earlier tests of the session install
    Kueue's CRDs (and Kueue, served, is the variant chosen first); the probe reads the cluster only through the
    variant its snapshot chooses, so this runs the Volcano variant against the real API server either way."""
    return dataclasses.replace(
        snapshot,
        api_resources=frozenset(r for r in snapshot.api_resources if not r.startswith("kueue.x-k8s.io/")),
        crds=tuple(c for c in snapshot.crds if not c["metadata"]["name"].endswith(".kueue.x-k8s.io")),
        custom={k: v for k, v in snapshot.custom.items() if not k.endswith(".kueue.x-k8s.io")},
    )


def controller_gen() -> Path:
    """controller-gen from its Go module, built once into the aiconform cache (a cold build takes minutes)."""
    from aiconform.devtools.devcluster.build import check_go, go_env
    from aiconform.devtools.devcluster.paths import bin_dir, cache_root

    out = bin_dir("controller-gen", CONTROLLER_GEN_VERSION.lstrip("v"))
    binary = out / "controller-gen"
    if binary.is_file():
        return binary
    out.mkdir(parents=True, exist_ok=True)
    tmp = cache_root() / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"[probes] building controller-gen {CONTROLLER_GEN_VERSION} (minutes when cold)", file=sys.stderr)
    subprocess.run(
        [check_go(), "install", f"{CONTROLLER_TOOLS}/cmd/controller-gen@{CONTROLLER_GEN_VERSION}"],
        cwd=tmp,
        env={**go_env(), "GOBIN": str(out)},
        check=True,
        timeout=1800,
    )
    return binary


def volcano_crds(work: Path) -> list[dict[str, Any]]:
    """The PodGroup and Queue CRDs generated from volcano.sh/apis' scheduling/v1beta1 types."""
    from aiconform.devtools.devcluster.build import go_env
    from aiconform.devtools.devcluster.upstream import module_dir

    source = module_dir(VOLCANO_APIS, VOLCANO_VERSION)
    subprocess.run(
        [str(controller_gen()), "crd", "paths=./pkg/apis/scheduling/v1beta1/...", f"output:crd:dir={work}"],
        cwd=source,
        env=go_env(),
        check=True,
        timeout=600,
        capture_output=True,
    )
    return [yaml.safe_load(p.read_text()) for p in sorted(work.glob("scheduling.volcano.sh_*.yaml"))]


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


@pytest.fixture(scope="module")
def volcano(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    names = install_crds(cluster, volcano_crds(tmp_path_factory.mktemp("volcano-crds")))
    assert sorted(names) == [PODGROUPS, QUEUES]
    try:
        yield names
    finally:
        cluster.kubectl("delete", "namespace", TEST_NS, "--ignore-not-found", "--wait=false", check=False)
        cluster.kubectl("delete", "queues.scheduling.volcano.sh", "default", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "crd", *names, "--ignore-not-found", "--wait=true", check=False)


def sandboxes(cluster: Cluster) -> list[str]:
    out = cluster.get_json("namespaces", "-l", "aiconform.io/probe=gang-scheduling")["items"]
    return [ns["metadata"]["name"] for ns in out]


def test_volcano_without_a_queue_cannot_run(cluster: Cluster, volcano: list[str]) -> None:
    verdict, took, variant = probe(cluster, spec_with())
    assert variant == "volcano"
    assert (verdict.reason, condition_status(verdict)) == ("ProbeCannotRun", "Unknown"), verdict
    assert "no open Volcano Queue (scheduling.volcano.sh/v1beta1) to submit to; an install makes 'default'" in (
        verdict.message
    )
    assert took < 5 and not sandboxes(cluster)


def test_volcano_probe_times_out_at_the_scheduler_and_removes_everything(cluster: Cluster, volcano: list[str]) -> None:
    # The queue Volcano's controller makes when it starts (no status: nothing reconciles it here).
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: default}\nspec: {weight: 1}\n",
    )
    verdict, took, variant = probe(cluster, spec_with(timeout=10))
    assert variant == "volcano"
    assert (verdict.reason, condition_status(verdict)) == ("ProbeTimedOut", "Unknown"), verdict
    assert "waiting for: the Volcano scheduler judges PodGroup held (its pods are not scheduled)" in verdict.message
    # Nothing bound them and nothing wrote PodScheduled: the kube-scheduler left the volcano pods alone.
    assert "(last seen: 0 of 3 pods bound, 3 found; PodScheduled unset (3); PodGroup phase unset)" in verdict.message
    text = verdict.transcript[0]
    assert "ok   choose the gang scheduler: Volcano: its API is served" in text
    assert "pick the queue and the node: Queue default (the install's default), node kwok-" in text
    assert "ok   create PodGroup held (minMember 3, queue default)" in text
    for index in range(3):
        assert f"ok   create Pod held-{index} (schedulerName volcano, cpu " in text, text
    node = next(e for e in verdict.evidence if e.startswith("node ")).split()[1].rstrip(":")
    assert f"2 of 3 fit on {node}" in text
    assert f"cleanup: deleted Namespace {PREFIX}gang-" in text
    assert 10 <= took < 20
    cluster.wait_for("the sandbox gone", lambda: not sandboxes(cluster), timeout=90)
    assert not cluster.get_json(PODGROUPS, "-A")["items"], "no PodGroup left behind"
    assert not cluster.get_json("pods", "-A", "-l", "aiconform.io/probe=gang-scheduling")["items"]

    # The real kube-scheduler binds a default pod on that node and still leaves a volcano one unbound.
    cluster.kubectl("create", "namespace", TEST_NS)
    for name, scheduler in (("by-default", "default-scheduler"), ("by-volcano", "volcano")):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": TEST_NS},
            "spec": {
                "schedulerName": scheduler,
                "nodeSelector": {"kubernetes.io/hostname": node},
                "containers": [
                    {"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "10m"}}}
                ],
            },
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    cluster.wait_for(
        "the default pod bound",
        lambda: cluster.get_json("pod", "-n", TEST_NS, "by-default")["spec"].get("nodeName") == node,
        timeout=30,
    )
    time.sleep(2)
    other = cluster.get_json("pod", "-n", TEST_NS, "by-volcano")
    assert not other["spec"].get("nodeName"), other
    assert not any(c["type"] == "PodScheduled" for c in other["status"].get("conditions") or []), other


def test_a_scheduler_that_binds_what_fits_is_caught(cluster: Cluster, volcano: list[str]) -> None:
    """The test plays a scheduler without gangs: it binds the held group's pods one by one while they fit on the
    node (2 of 3), through the real Binding subresource. The probe must call that not all-or-nothing."""
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata: {name: default}\nspec: {weight: 1}\n",
    )

    async def naive_scheduler(kube: KubeClient, done: asyncio.Event) -> list[str]:
        bound: list[str] = []
        while not done.is_set() and len(bound) < 2:
            for p in await kube.list("/api/v1/pods?labelSelector=aiconform.io/probe-group%3Dheld"):
                meta, spec = p["metadata"], p["spec"]
                if spec.get("nodeName") or len(bound) >= 2:
                    continue
                target = {"apiVersion": "v1", "kind": "Node", "name": spec["nodeSelector"]["kubernetes.io/hostname"]}
                body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]}, "target": target}
                await kube.request(
                    "POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", body=body
                )
                bound.append(meta["name"])
            await asyncio.sleep(0.1)
        return bound

    async def go() -> tuple[Verdict, float, list[str]]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig)), user_agent="aiconform-e2e-probe") as kube:
            snapshot = without_kueue(await collect(kube, scrape=False))
            done = asyncio.Event()
            binder = asyncio.create_task(naive_scheduler(kube, done))
            started = time.monotonic()
            verdict = await run_probe(kube, "gang_scheduling", spec_with(timeout=20), snapshot)
            took = time.monotonic() - started
            done.set()
            return verdict, took, await binder

    verdict, took, bound = asyncio.run(go())
    print(
        f"\n[probes] gang_scheduling (naive binder): {verdict.status} ({verdict.reason}) in {took:.1f}s",
        file=sys.stderr,
    )
    print(verdict.transcript[0], file=sys.stderr)
    assert bound[:1] == ["held-0"]  # and maybe held-1: the probe may end on the first
    assert (verdict.status, verdict.reason, verdict.tier) == ("Not Implemented", "ProbeFailed", "Observed"), verdict
    assert condition_status(verdict) == "False"
    assert "Volcano bound some but not all pods of PodGroup held (minMember 3) although only 2 fit on" in (
        verdict.message
    )
    assert re.search(r": [12] of 3 pods bound \(kwok-", verdict.message) and "not all-or-nothing" in verdict.message
    assert "FAIL the Volcano scheduler judges PodGroup held (its pods are not scheduled)" in verdict.transcript[0]
    assert took < 20
    cluster.wait_for("the sandbox gone", lambda: not sandboxes(cluster), timeout=90)
    assert not cluster.get_json(PODGROUPS, "-A")["items"]
