"""Rule 10 of issue 13: what only hardware can prove is never Implemented without a probe's observation, whatever
a check returns. The cap is structural (`evidence.enforce` on HARDWARE_PARTS); these tests hold every check to it on
the dev fleet, with the strongest evidence the API can give short of a probe."""

from __future__ import annotations

import dataclasses

import pytest
from checkbuilders import DRA_SERVED, cond, container, daemonset, device, pod, profile, rslice, scrape, snap, tenant

from aiconform.components import dra
from aiconform.conformance import catalog, evaluate
from aiconform.conformance.checks import CHECKS
from aiconform.conformance.evidence import HARDWARE_PARTS, OBSERVED
from aiconform.conformance.verdict import IMPLEMENTED, Verdict
from aiconform.devtools.devcluster import fleet
from aiconform.kube.snapshot import Snapshot

VERSIONS = ("v1.33", "v1.34", "v1.35", "v1.36")


def _dev_fleet() -> Snapshot:
    """The dev cluster's fleet, its nodes Ready and its slices published by kubelet plugins (owned by the Node),
    the DRA DeviceClasses aiconform makes, a network DRA driver, a clean tenant and a DCGM exporter scraped on
    every GPU node."""
    nodes, slices = fleet.fleet_objects(fleet.default_pools())
    for n in nodes:
        n["status"]["conditions"] = [cond("Ready")]
    for rs in slices:
        node_name = rs["spec"]["nodeName"]
        rs["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": "u"}]
    gpu_nodes = [n["metadata"]["name"] for n in nodes if "nvidia.com/gpu" in n["status"]["allocatable"]]
    nic = rslice(gpu_nodes[0], [device("eth1", **{"dra.net/rdma": True})], driver="dra.net", owned=True)
    base = snap(nodes=nodes, resource_slices=[*slices, nic], api_resources=DRA_SERVED)
    spec = profile(components={"dra": {"enabled": True}})
    classes = [
        {"kind": "DeviceClass", "metadata": {"name": k}, "spec": {"selectors": [{"cel": {"expression": v}}]}}
        for k, v in dra.device_class_selectors(spec, base).items()
    ]
    uuids = {
        rs["spec"]["nodeName"]: sorted(
            {(d["attributes"].get("parentUUID") or d["attributes"]["uuid"])["string"] for d in rs["spec"]["devices"]}
        )
        for rs in slices
    }
    exporters = [
        pod("gpu-monitoring", f"dcgm-{i}", node=n, owner=("DaemonSet", "dcgm-exporter"), ip=f"10.9.0.{i}")
        for i, n in enumerate(gpu_nodes)
    ]
    scrapes = [scrape(n, uuids[n], target=f"10.9.0.{i}:9400/metrics") for i, n in enumerate(gpu_nodes)]
    workload = pod("team-a", "train", containers=[container(limits={"nvidia.com/gpu": "1"})])
    return dataclasses.replace(
        base,
        device_classes=tuple(classes),
        namespaces=(tenant("team-a"),),
        daemonsets=(daemonset("gpu-monitoring", "dcgm-exporter"),),
        pods=(*exporters, workload),
        scrapes=tuple(scrapes),
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_no_hardware_part_is_implemented_without_observation_on_the_dev_fleet(version: str) -> None:
    ev = evaluate.evaluate(_dev_fleet(), profile(), version)
    for v in ev.verdicts:
        if v.requirement in HARDWARE_PARTS:
            assert not (v.status == IMPLEMENTED and v.tier != OBSERVED), v
    # the fleet is strong enough elsewhere: the accelerator checks that live evidence can prove are Implemented
    assert ev.verdict("accelerator_metrics").status == IMPLEMENTED  # type: ignore[union-attr]
    if version in ("v1.35", "v1.36"):
        assert ev.verdict("driver_runtime_management").tier == "ControllerStatus"  # type: ignore[union-attr]
        assert ev.verdict("gpu_sharing").status == IMPLEMENTED  # type: ignore[union-attr]


def test_the_checks_own_hardware_verdicts_agree_with_the_cap() -> None:
    """The checks of hardware-bound requirements say NeedsHardwareTest themselves when all the API shows is
    good, never Implemented, so the verdict does not depend on the cap having run."""
    snapshot = _dev_fleet()
    for rid in HARDWARE_PARTS:
        if rid in ("secure_accelerator_access", "high_performance_networking"):
            v = CHECKS[rid](snapshot, profile())
            assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest"), v


def test_no_check_can_bypass_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a check claiming Implemented on a controller's status is held to the hardware test."""

    def boasting(rid: str):  # type: ignore[no-untyped-def]
        return lambda snapshot, spec: Verdict(rid, IMPLEMENTED, "APIVerified", "all good", tier="ControllerStatus")

    monkeypatch.setattr(evaluate, "CHECKS", {rid: boasting(rid) for rid in CHECKS})
    for version in VERSIONS:
        for v in evaluate.evaluate(Snapshot(), profile(), version).verdicts:
            if v.requirement in HARDWARE_PARTS:
                assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest"), v
            else:
                assert v.status == IMPLEMENTED
    assert {r.id for v in VERSIONS for r in catalog.requirements_for(v)} >= set(HARDWARE_PARTS)
