"""The pydantic models: defaults, valid edge cases, and the pydantic half of every invalid profile."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiconform.api import constants
from aiconform.api.models import (
    REQUIREMENT_IDS,
    ConformanceProfile,
    KedaSpec,
    LabelSelector,
    ProfileSpec,
    ProfileStatus,
    ValidationError,
    validate_profile,
)

ROOT = Path(__file__).resolve().parents[2]
INVALID_DIR = ROOT / "tests" / "invalid_profiles"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted(INVALID_DIR.glob("*.yaml"))
EXPECT_RE = re.compile(r"^# expect: (\S.*)$")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def profile(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "metadata": {"name": "t"}, "spec": spec}


# --- vocabulary ---------------------------------------------------------------------------------------------


def test_requirement_ids_are_the_checklist_ids() -> None:
    assert len(REQUIREMENT_IDS) == 15
    assert len(set(REQUIREMENT_IDS)) == 15
    assert {"dra_support", "gang_scheduling", "robust_controller", "cluster_autoscaling"} <= set(REQUIREMENT_IDS)


def test_api_version_and_kind_match_constants() -> None:
    p = ConformanceProfile()
    assert p.api_version == constants.API_VERSION
    assert p.kind == constants.KIND


# --- examples and defaults ------------------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"production.yaml", "minimal.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    p = validate_profile(load(path))
    assert p.name == path.stem


def test_minimal_example_is_all_defaults() -> None:
    p = validate_profile(load(ROOT / "examples" / "minimal.yaml"))
    assert p.spec == ProfileSpec()
    assert p.spec.kubernetes_version == "auto"
    assert p.spec.mode == "Enforce"
    assert p.spec.accelerators.node_selector.match_labels == {"nvidia.com/gpu.present": "true"}
    assert p.spec.tenants.namespace_selector.match_labels == {"aiconform.io/tenant": "true"}
    assert not any(getattr(p.spec.components, name).enabled for name in type(p.spec.components).model_fields)


def test_production_example_enables_everything_and_declares_na() -> None:
    p = validate_profile(load(ROOT / "examples" / "production.yaml"))
    c = p.spec.components
    assert all(getattr(c, name).enabled for name in type(c).model_fields)
    declared = p.spec.requirements["cluster_autoscaling"]
    assert declared.status == "N/A"
    assert declared.notes


def test_spec_null_means_defaults() -> None:
    doc = profile({})
    doc["spec"] = None
    assert validate_profile(doc).spec == ProfileSpec()


def test_defaults_are_not_shared_between_instances() -> None:
    a, b = ProfileSpec(), ProfileSpec()
    a.components.dcgm_exporter.collectors.append("nvlink")
    a.accelerators.node_selector.match_labels["x"] = "y"
    assert b.components.dcgm_exporter.collectors == ["xid"]
    assert "x" not in b.accelerators.node_selector.match_labels


def test_round_trip_through_camel_case() -> None:
    p = validate_profile(load(ROOT / "examples" / "production.yaml"))
    dumped = p.model_dump(mode="json", exclude_none=True)
    assert "kubernetesVersion" in dumped["spec"]
    assert "dcgmExporter" in dumped["spec"]["components"]
    assert validate_profile(dumped) == p


def test_python_names_populate_too() -> None:
    keda = KedaSpec(enabled=True, min_replicas=2, max_replicas=3)
    assert keda.model_dump()["minReplicas"] == 2


def test_top_level_unknown_fields_are_rejected_like_the_api_server() -> None:
    # kubectl sends with strict field validation: the API server answers `unknown field "extra"`.
    doc = profile({})
    doc["extra"] = 1
    with pytest.raises(ValidationError, match="extra"):
        validate_profile(doc)


def test_spec_unknown_fields_are_errors() -> None:
    with pytest.raises(ValidationError, match="kubernetesVersoin"):
        validate_profile(profile({"kubernetesVersoin": "v1.35"}))


def test_wrong_api_version_is_rejected() -> None:
    doc = profile({})
    doc["apiVersion"] = "aiconform.io/v1"
    with pytest.raises(ValidationError):
        validate_profile(doc)


# --- valid edge cases (each sits next to a rule that must not over-reach) -------------------------------------

VALID_SPECS: dict[str, dict[str, Any]] = {
    "min-equals-max-replicas": {"components": {"keda": {"enabled": True, "minReplicas": 3, "maxReplicas": 3}}},
    "keda-disabled-empty-metric": {"components": {"keda": {"metric": ""}}},
    "float-threshold": {"components": {"keda": {"threshold": 2.5, "activationThreshold": 0.5}}},
    "na-with-notes": {"requirements": {"pod_autoscaling": {"status": "N/A", "notes": "no HPA offered"}}},
    "implemented-without-notes": {"requirements": {"gang_scheduling": {"status": "Implemented"}}},
    "all-requirement-ids": {"requirements": {i: {"status": "Implemented"} for i in REQUIREMENT_IDS}},
    "dra-devices-with-dra": {
        "components": {"dra": {"enabled": True}, "quotas": {"enabled": True, "draDevicesPerTenant": 0}}
    },
    "kubelet-plugin-with-image": {
        "components": {"dra": {"enabled": True, "kubeletPlugin": {"enabled": True, "image": "example/dra:1.0"}}}
    },
    "gpus-per-flavor-int": {"components": {"kueue": {"gpusPerFlavor": 0}}},
    "quantities": {"components": {"kueue": {"cpuQuota": "500m", "memoryQuota": "512Gi"}}},
    "quantity-as-int": {"components": {"kueue": {"cpuQuota": 64, "memoryQuota": "1e9"}}},
    "explicit-version": {"kubernetesVersion": "v1.36", "accelerators": {"minDriverVersion": "550"}},
    "four-part-driver-version": {"accelerators": {"minDriverVersion": "535.161.08.1"}},
    "amd-without-dcgm": {
        "accelerators": {
            "vendor": "amd",
            "resourceName": "amd.com/gpu",
            "nodeSelector": {"matchLabels": {"amd.com/gpu.present": "true"}},
        }
    },
    "selector-expressions": {
        "accelerators": {
            "nodeSelector": {
                "matchLabels": {"nvidia.com/gpu.present": "true", "tier": ""},
                "matchExpressions": [
                    {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["Tesla-T4"]},
                    {"key": "nvidia.com/mig.capable", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "Exists", "values": []},
                ],
            }
        }
    },
    "empty-selector": {"tenants": {"namespaceSelector": {}}},
    "tolerate-everything": {"components": {"dcgmExporter": {"tolerations": [{"operator": "Exists"}]}}},
    "no-tolerations": {"components": {"dcgmExporter": {"tolerations": [], "nodeSelector": {"gpu": "yes"}}}},
    "all-collectors": {
        "components": {"dcgmExporter": {"collectors": ["xid", "nvlink", "profiling", "ecc", "power", "clocks"]}}
    },
    "audit-orphan": {"mode": "Audit", "deletionPolicy": "Orphan", "evaluationIntervalSeconds": 86400},
}


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_valid_specs(name: str) -> None:
    validate_profile(profile(copy.deepcopy(VALID_SPECS[name])))


# --- invalid profiles ---------------------------------------------------------------------------------------


def test_enough_invalid_profiles() -> None:
    assert len(INVALID) >= 14


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    m = EXPECT_RE.match(first)
    assert m, f"{path.name}: first line must be '# expect: <substring>'"
    return m.group(1).strip()


def test_invalid_profiles_are_well_formed() -> None:
    names = []
    for path in INVALID:
        doc = load(path)
        assert doc["apiVersion"] == constants.API_VERSION
        assert doc["kind"] == constants.KIND
        if expectation(path).startswith("metadata."):  # the name itself is what is wrong
            assert doc["metadata"]["name"].startswith("a")
        else:
            assert doc["metadata"]["name"] == f"invalid-{path.stem}"
            assert expectation(path).startswith("spec.")
        names.append(doc["metadata"]["name"])
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_profile_is_rejected_by_pydantic(path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_profile(load(path))
    # Rejected for the right reason: the offending field is named (in the location or the message).
    leaf = re.findall(r"[A-Za-z_]\w*", expectation(path))[-1]
    assert leaf in str(caught.value)


@pytest.mark.parametrize(
    "key",
    [
        "a" * 254 + "/name",  # DNS prefix over 253 characters
        "example.com/" + "n" * 64,  # name over 63 characters
        "-bad",
        "Example.com/x",  # the prefix is lower case
        "",
    ],
)
def test_bad_label_keys(key: str) -> None:
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchLabels": {key: "v"}})
    with pytest.raises(ValidationError):
        LabelSelector.model_validate({"matchExpressions": [{"key": key, "operator": "Exists"}]})


def test_longest_label_key_is_fine() -> None:
    prefix = ".".join(["a" * 63] * 4)[:253]
    LabelSelector.model_validate({"matchLabels": {f"{prefix}/{'n' * 63}": "v"}})


def test_blank_notes_do_not_justify_na() -> None:
    with pytest.raises(ValidationError, match="notes"):
        validate_profile(profile({"requirements": {"gpu_sharing": {"status": "N/A", "notes": " \n\t"}}}))


def test_strict_types_follow_the_api_server() -> None:
    # The API server rejects these; lax pydantic would coerce them.
    for spec in (
        {"evaluationIntervalSeconds": "60"},
        {"components": {"kueue": {"gpusPerFlavor": "4"}}},
        {"components": {"keda": {"enabled": 1}}},
        {"accelerators": {"minDriverVersion": 550.54}},
    ):
        with pytest.raises(ValidationError):
            validate_profile(profile(spec))


# --- selectors and status ------------------------------------------------------------------------------------


def test_label_selector_matches() -> None:
    sel = LabelSelector.model_validate(
        {
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "NotIn", "values": ["z"]},
                {"key": "d", "operator": "Exists"},
                {"key": "e", "operator": "DoesNotExist"},
            ],
        }
    )
    assert sel.matches({"a": "1", "b": "x", "d": ""})
    assert sel.matches({"a": "1", "b": "y", "c": "q", "d": "v"})
    assert not sel.matches({"a": "2", "b": "x", "d": ""})
    assert not sel.matches({"a": "1", "b": "w", "d": ""})
    assert not sel.matches({"a": "1", "b": "x", "c": "z", "d": ""})
    assert not sel.matches({"a": "1", "b": "x"})
    assert not sel.matches({"a": "1", "b": "x", "d": "", "e": ""})
    assert LabelSelector().matches({})


def test_status_model_parses_what_the_operator_writes() -> None:
    status = ProfileStatus.model_validate(
        {
            "observedGeneration": 3,
            "kubernetesVersion": "v1.35",
            "summary": {"kubernetesVersion": "v1.35", "conformant": "False", "mustMet": "8/9", "shouldMet": "1/3"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Reconciled",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                },
                {
                    "type": "gang_scheduling",
                    "status": "False",
                    "reason": "KueueMissing",
                    "message": "no Kueue",
                    "observedGeneration": 3,
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                },
            ],
            "requirements": [
                {
                    "id": "gang_scheduling",
                    "category": "schedulingOrchestration",
                    "level": "MUST",
                    "status": "Not Implemented",
                    "reason": "KueueMissing",
                    "evidence": ["crd/workloads.kueue.x-k8s.io"],
                    "details": {"anything": [1, 2]},
                },
            ],
            "components": {"kueue": {"state": "Ready", "managed": 3}},
            "somethingNew": True,
        }
    )
    assert status.summary is not None and status.summary.must_met == "8/9"
    assert status.requirements[0].details == {"anything": [1, 2]}
    dumped = status.model_dump(mode="json", exclude_none=True)
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert "somethingNew" not in dumped
