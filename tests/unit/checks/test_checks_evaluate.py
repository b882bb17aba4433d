import pytest
from checkbuilders import DRA_SERVED, HPA_SERVED, device_class, gpu_node, gpu_slice, profile, snap

from aiconform.api.models import REQUIREMENT_IDS
from aiconform.conformance import catalog, checks
from aiconform.conformance.evaluate import evaluate
from aiconform.conformance.verdict import Verdict
from aiconform.devtools.devcluster.fleet import default_pools, fleet_objects
from aiconform.kube.snapshot import Snapshot
from aiconform.operator.conditions import is_camel_case

NA_AUTOSCALING = {
    "cluster_autoscaling": {"status": "N/A", "notes": "on-prem, fixed GPU pools", "evidence": ["docs/pools.md"]}
}


def _implemented(requirement):
    return lambda snapshot, spec: Verdict(requirement, "Implemented", "APIVerified", "ok", tier="Observed")


def test_registry_covers_every_requirement():
    assert set(checks.CHECKS) == set(REQUIREMENT_IDS)


@pytest.mark.parametrize("requirement", REQUIREMENT_IDS)
@pytest.mark.parametrize("snapshot", [Snapshot(), None], ids=["empty", "fleet"])
def test_every_check_is_total(requirement, snapshot):
    if snapshot is None:
        nodes, slices = fleet_objects(default_pools())
        snapshot = snap(nodes=nodes, resource_slices=slices, api_resources=DRA_SERVED | HPA_SERVED)
    v = checks.CHECKS[requirement](snapshot, profile())
    assert v.requirement == requirement
    assert is_camel_case(v.reason)
    assert v.message and len(v.message) < 4096
    assert v.status != "Implemented" or v.reason == "APIVerified"


def test_fleet_accelerator_checks_pass():
    nodes, slices = fleet_objects(default_pools())
    s = snap(
        nodes=nodes, resource_slices=slices, api_resources=DRA_SERVED, device_classes=[device_class("gpu.nvidia.com")]
    )
    spec = profile(accelerators={"minDriverVersion": "550.54"})
    for requirement, expected in [
        ("dra_support", "Implemented"),
        ("driver_runtime_management", "Implemented"),
        ("gpu_sharing", "Implemented"),
        ("virtualized_accelerator", "N/A"),
    ]:
        assert checks.CHECKS[requirement](s, spec).status == expected, requirement


def test_versions_follow_the_catalog():
    e36 = evaluate(Snapshot(), profile(), "v1.36")
    assert "dra_support" not in [v.requirement for v in e36.verdicts]
    assert [v.requirement for v in e36.verdicts] == [r.id for r in catalog.requirements_for("v1.36")]
    assert (e36.must_total, e36.should_total) == (8, 6)
    e35 = evaluate(Snapshot(), profile(), "v1.35")
    assert e35.verdicts[0].requirement == "dra_support" and e35.levels["dra_support"] == "MUST"
    assert evaluate(Snapshot(), profile(), "v1.33").levels["dra_support"] == "SHOULD"
    assert e36.categories["gang_scheduling"] == "schedulingOrchestration"


def test_declared_na_is_honoured_instead_of_the_check():
    e = evaluate(Snapshot(), profile(requirements=NA_AUTOSCALING), "v1.36")
    v = e.verdict("cluster_autoscaling")
    assert v == Verdict(
        "cluster_autoscaling", "N/A", "Declared", "on-prem, fixed GPU pools", ("docs/pools.md",), True, "Declared"
    )


def test_conditional_absence_suggests_declaring_na():
    e = evaluate(Snapshot(), profile(), "v1.36")
    v = e.verdict("cluster_autoscaling")
    assert v.reason == "NoAutoscaler"
    assert 'declare spec.requirements.cluster_autoscaling with status "N/A"' in v.message
    # not on a non-conditional requirement
    assert 'with status "N/A"' not in e.verdict("gang_scheduling").message


def test_counts_and_conformant(monkeypatch):
    fake = {rid: _implemented(rid) for rid in REQUIREMENT_IDS}
    monkeypatch.setattr("aiconform.conformance.evaluate.CHECKS", fake)
    e = evaluate(Snapshot(), profile(), "v1.36")
    assert (e.must_met, e.must_total, e.should_met, e.should_total, e.conformant) == (8, 8, 6, 6, True)
    assert e.must_summary == "8/8"

    fake["secure_accelerator_access"] = lambda s, p: Verdict(
        "secure_accelerator_access", "Partially Implemented", "NeedsHardwareTest", "hw"
    )
    fake["gpu_sharing"] = lambda s, p: Verdict("gpu_sharing", "N/A", "NotApplicable", "none")
    e = evaluate(Snapshot(), profile(requirements=NA_AUTOSCALING), "v1.36")
    assert (e.must_met, e.should_met, e.conformant) == (7, 6, False)

    declared = {**NA_AUTOSCALING, "secure_accelerator_access": {"status": "Implemented", "evidence": ["https://x"]}}
    e = evaluate(Snapshot(), profile(requirements=declared), "v1.36")
    assert (e.must_met, e.conformant) == (8, True)


def test_a_raising_check_becomes_check_error(monkeypatch):
    def boom(snapshot, spec):
        raise KeyError("spec")

    monkeypatch.setattr("aiconform.conformance.evaluate.CHECKS", {**checks.CHECKS, "gang_scheduling": boom})
    e = evaluate(Snapshot(), profile(), "v1.36")
    v = e.verdict("gang_scheduling")
    assert (v.status, v.reason) == ("Not Implemented", "CheckError")
    assert "KeyError" in v.message
    assert not e.conformant


def test_real_evaluation_is_not_conformant_on_a_bare_cluster():
    s = snap(
        nodes=[gpu_node("h-0")],
        resource_slices=[gpu_slice("h-0")],
        api_resources=DRA_SERVED | HPA_SERVED,
        device_classes=[device_class("gpu.nvidia.com")],
    )
    e = evaluate(s, profile(), "v1.35")
    # Published slices and a class are presence: Implemented needs a probe's allocation (or a controller's status).
    assert (e.verdict("dra_support").status, e.verdict("dra_support").reason) == (
        "Partially Implemented",
        "PresenceOnly",
    )
    assert not e.conformant and e.must_met < e.must_total


def test_unknown_version_raises():
    with pytest.raises(KeyError):
        evaluate(Snapshot(), profile(), "v1.99")


def test_evaluation_is_deterministic():
    nodes, slices = fleet_objects(default_pools())
    s = snap(nodes=nodes, resource_slices=slices, api_resources=DRA_SERVED | HPA_SERVED)
    assert evaluate(s, profile(), "v1.35") == evaluate(s, profile(), "v1.35")
