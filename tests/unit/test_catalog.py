"""The catalog mirrors the CNCF checklists; resolve_version picks one or says why it cannot."""

from __future__ import annotations

import pytest

from aiconform.conformance import catalog
from aiconform.conformance.catalog import (
    REASON_CLUSTER_VERSION_UNKNOWN,
    REASON_NEWER_THAN_KNOWN,
    REASON_RESOLVED,
    REASON_UNKNOWN_CHECKLIST,
    REASON_UNSUPPORTED,
    known_versions,
    requirements_for,
    resolve_version,
)


def _ids(version: str) -> list[str]:
    return [r.id for r in requirements_for(version)]


def _level(version: str, req_id: str) -> str | None:
    return next((r.level for r in requirements_for(version) if r.id == req_id), None)


def test_known_versions_sorted() -> None:
    assert known_versions() == ["v1.33", "v1.34", "v1.35", "v1.36"]


@pytest.mark.parametrize(("version", "count"), [("v1.33", 9), ("v1.34", 9), ("v1.35", 12), ("v1.36", 14)])
def test_counts(version: str, count: int) -> None:
    ids = _ids(version)
    assert len(ids) == count
    assert len(set(ids)) == count


def test_dra_support_levels() -> None:
    assert _level("v1.33", "dra_support") == "SHOULD"
    assert _level("v1.34", "dra_support") == "MUST"
    assert _level("v1.35", "dra_support") == "MUST"
    assert "dra_support" not in _ids("v1.36")


def test_new_ids_per_version() -> None:
    assert set(_ids("v1.35")) - set(_ids("v1.34")) == {
        "driver_runtime_management",
        "gpu_sharing",
        "virtualized_accelerator",
    }
    assert set(_ids("v1.36")) - set(_ids("v1.35")) == {
        "advanced_inference_ingress",
        "high_performance_networking",
        "disaggregated_inference",
    }


def test_fields_and_conditionals() -> None:
    for version in known_versions():
        for req in requirements_for(version):
            assert req.category in catalog.CATEGORIES
            assert req.level in catalog.LEVELS
            assert req.description
            assert req.conditional == req.description.startswith("If ")
        conditional_musts = {r.id for r in requirements_for(version) if r.conditional and r.level == "MUST"}
        assert conditional_musts == {"cluster_autoscaling", "pod_autoscaling"}


def test_description_verbatim_and_category() -> None:
    req = next(r for r in requirements_for("v1.33") if r.id == "ai_inference")
    assert req.category == "networking"
    assert req.description.startswith("Support the Kubernetes Gateway API with an implementation")
    gang = next(r for r in requirements_for("v1.36") if r.id == "gang_scheduling")
    assert gang.category == "schedulingOrchestration"


def test_requirement_is_frozen() -> None:
    req = requirements_for("v1.36")[0]
    with pytest.raises(AttributeError):
        req.level = "SHOULD"  # type: ignore[misc]


def test_requirements_for_returns_copy() -> None:
    requirements_for("v1.36").clear()
    assert len(requirements_for("v1.36")) == 14


@pytest.mark.parametrize(
    ("git_version", "expected"),
    [
        ("v1.36.3", "v1.36"),
        ("v1.36.3-gke.1", "v1.36"),
        ("v1.33.0", "v1.33"),
        ("v1.35.1+k3s1", "v1.35"),
        ("v1.34", "v1.34"),
    ],
)
def test_auto_follows_cluster(git_version: str, expected: str) -> None:
    res = resolve_version("auto", git_version)
    assert res.ok
    assert res.version == expected
    assert res.reason == REASON_RESOLVED


def test_auto_newer_cluster_uses_newest_and_says_so() -> None:
    res = resolve_version("auto", "v1.37.2")
    assert res.ok
    assert res.version == "v1.36"
    assert res.reason == REASON_NEWER_THAN_KNOWN
    assert "v1.37.2" in res.message and "v1.36" in res.message


def test_auto_older_cluster_is_an_error_value() -> None:
    res = resolve_version("auto", "v1.32.9")
    assert not res.ok
    assert res.version is None
    assert res.reason == REASON_UNSUPPORTED
    assert "v1.33" in res.message


@pytest.mark.parametrize("git_version", [None, "", "garbage", "v2.1.0", "1.x"])
def test_auto_unparsable_cluster_version(git_version: str | None) -> None:
    res = resolve_version("auto", git_version)
    assert not res.ok
    assert res.reason == REASON_CLUSTER_VERSION_UNKNOWN


def test_explicit_known_ignores_cluster() -> None:
    res = resolve_version("v1.34", None)
    assert res.ok
    assert res.version == "v1.34"


def test_explicit_unknown_lists_known() -> None:
    res = resolve_version("v1.30", "v1.36.0")
    assert not res.ok
    assert res.reason == REASON_UNKNOWN_CHECKLIST
    assert "v1.33, v1.34, v1.35, v1.36" in res.message


def test_reasons_are_camel_case() -> None:
    from aiconform.operator.conditions import is_camel_case

    for reason in (
        REASON_RESOLVED,
        REASON_NEWER_THAN_KNOWN,
        REASON_UNSUPPORTED,
        REASON_UNKNOWN_CHECKLIST,
        REASON_CLUSTER_VERSION_UNKNOWN,
    ):
        assert is_camel_case(reason)
