"""Renderers: table, JSON, JUnit and PRODUCT.yaml are pure functions of an evaluation."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from aiconform.checker.report import is_met
from aiconform.checker.report.jsonout import render_json
from aiconform.checker.report.junit import render_junit
from aiconform.checker.report.product_yaml import (
    MetadataError,
    flag_for,
    metadata_problems,
    normalize_metadata,
    render_product_yaml,
)
from aiconform.checker.report.table import render_table
from aiconform.conformance.catalog import CATEGORIES, known_versions, requirements_for
from aiconform.conformance.verdict import Verdict, VerdictStatus

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The metadata keys of each template, in order (cncf/k8s-ai-conformance docs/AIConformance-1.3x.yaml).
BASE_KEYS = [
    "kubernetesVersion",
    "platformName",
    "platformVersion",
    "vendorName",
    "websiteUrl",
    "repoUrl",
    "documentationUrl",
    "productLogoUrl",
    "description",
    "contactEmailAddress",
]
TEMPLATE_KEYS = {
    "v1.33": BASE_KEYS,
    "v1.34": BASE_KEYS,
    "v1.35": [*BASE_KEYS, "k8sConformanceUrl"],
    "v1.36": BASE_KEYS,
}

METADATA = {
    "platformName": "Example AI Platform",
    "platformVersion": "2.1",
    "vendorName": "Example Corp",
    "websiteUrl": "https://example.com",
    "repoUrl": "https://github.com/example/platform",
    "documentationUrl": "https://example.com/docs",
    "productLogoUrl": "https://example.com/logo.svg",
    "description": "An AI platform: GPUs, queues & gateways.",
    "contactEmailAddress": "conformance@example.com",
    "k8sConformanceUrl": "https://github.com/cncf/k8s-conformance/tree/master/v1.35/example",
}


@dataclass(frozen=True)
class FakeEvaluation:
    version: str
    verdicts: tuple[Verdict, ...]
    must_met: int = 0
    must_total: int = 0
    should_met: int = 0
    should_total: int = 0
    conformant: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def make_eval(version: str, statuses: dict[str, VerdictStatus] | None = None, **overrides: Any) -> FakeEvaluation:
    """Every requirement Implemented unless `statuses` says otherwise; counts computed like evaluate() does."""
    statuses = statuses or {}
    verdicts = []
    for req in requirements_for(version):
        status = statuses.get(req.id, "Implemented")
        verdicts.append(
            Verdict(
                requirement=req.id,
                status=status,
                reason="APIVerified" if status == "Implemented" else "CRDsMissing",
                message=f"{req.id} is {status.lower()}",
                evidence=(f"CustomResourceDefinition/{req.id}.example.io",),
                declared=overrides.pop(f"declared_{req.id}", False),
            )
        )
    levels = {r.id: r.level for r in requirements_for(version)}
    must = [v for v in verdicts if levels[v.requirement] == "MUST"]
    should = [v for v in verdicts if levels[v.requirement] == "SHOULD"]
    ev = FakeEvaluation(
        version=version,
        verdicts=tuple(verdicts),
        must_met=sum(map(is_met, must)),
        must_total=len(must),
        should_met=sum(map(is_met, should)),
        should_total=len(should),
        conformant=all(map(is_met, must)),
    )
    return ev


# ---------------------------------------------------------------------------------------------------------------
# Table


def test_table_plain_has_one_line_per_requirement_and_summary() -> None:
    ev = make_eval("v1.36", {"ai_inference": "Not Implemented", "gpu_sharing": "Partially Implemented"})
    text = render_table(ev, color=False)
    assert not ANSI.search(text)
    lines = text.splitlines()
    assert lines[0].split() == ["REQUIREMENT", "LEVEL", "STATUS", "EVIDENCE", "REASON", "MESSAGE"]
    for req in requirements_for("v1.36"):
        assert sum(1 for line in lines if line.startswith(req.id + " ")) == 1
    assert "Conformant: no — MUST 7/8, SHOULD 5/6 (checklist v1.36)" in lines
    row = next(line for line in lines if line.startswith("ai_inference "))
    assert "MUST" in row and "Not Implemented" in row and "APIPresence" in row and "CRDsMissing" in row


def test_table_conformant_summary() -> None:
    text = render_table(make_eval("v1.35"), color=False)
    assert "Conformant: yes — MUST 9/9, SHOULD 3/3 (checklist v1.35)" in text


def test_table_colour_only_adds_ansi() -> None:
    ev = make_eval(
        "v1.36",
        {"ai_inference": "Not Implemented", "gpu_sharing": "Partially Implemented", "virtualized_accelerator": "N/A"},
    )
    plain = render_table(ev, color=False)
    coloured = render_table(ev, color=True)
    assert ANSI.sub("", coloured) == plain
    row = {line.split()[0]: line for line in coloured.splitlines() if line and not line.startswith("\x1b")}
    assert "\x1b[32mImplemented" in row["gang_scheduling"]
    assert "\x1b[31mNot Implemented" in row["ai_inference"]
    assert "\x1b[33mPartially Implemented" in row["gpu_sharing"]
    assert "\x1b[2mN/A" in row["virtualized_accelerator"]


def test_table_truncates_long_messages_to_one_line() -> None:
    ev = make_eval("v1.36")
    long = Verdict("ai_inference", "Not Implemented", "CRDsMissing", "word " * 200 + "\nsecond line")
    ev = FakeEvaluation(
        **{**ev.__dict__, "verdicts": tuple(long if v.requirement == "ai_inference" else v for v in ev.verdicts)}
    )
    text = render_table(ev, color=False, width=120)
    row = next(line for line in text.splitlines() if line.startswith("ai_inference "))
    assert len(row) <= 120
    assert row.endswith("…")
    assert "second line" not in text


def test_table_marks_declared() -> None:
    ev = make_eval("v1.36", {"cluster_autoscaling": "N/A"}, declared_cluster_autoscaling=True)
    text = render_table(ev, color=False)
    row = next(line for line in text.splitlines() if line.startswith("cluster_autoscaling "))
    assert "MUST*" in row
    assert "declared in the profile" in text


# ---------------------------------------------------------------------------------------------------------------
# JSON


def test_json_shape_and_order() -> None:
    ev = make_eval("v1.35", {"dra_support": "Not Implemented"}, declared_gpu_sharing=True)
    doc = json.loads(render_json(ev, server_version="v1.37.2"))
    assert list(doc) == ["schemaVersion", "version", "serverVersion", "conformant", "counts", "requirements"]
    assert doc["version"] == "v1.35"
    assert doc["serverVersion"] == "v1.37.2"
    assert doc["conformant"] is False
    assert doc["counts"] == {"must": {"met": 8, "total": 9}, "should": {"met": 3, "total": 3}}
    assert [r["id"] for r in doc["requirements"]] == [r.id for r in requirements_for("v1.35")]
    dra = doc["requirements"][0]
    assert dra == {
        "id": "dra_support",
        "category": "accelerators",
        "level": "MUST",
        "conditional": False,
        "status": "Not Implemented",
        "reason": "CRDsMissing",
        "tier": "APIPresence",
        "message": "dra_support is not implemented",
        "evidence": ["CustomResourceDefinition/dra_support.example.io"],
        "declared": False,
    }
    assert next(r for r in doc["requirements"] if r["id"] == "gpu_sharing")["declared"] is True


def test_json_is_stable() -> None:
    ev = make_eval("v1.36")
    assert render_json(ev) == render_json(ev)


# ---------------------------------------------------------------------------------------------------------------
# JUnit


def _junit(ev: FakeEvaluation, fail_on: str = "must") -> ET.Element:
    return ET.fromstring(render_junit(ev, fail_on=fail_on))


def test_junit_structure() -> None:
    root = _junit(make_eval("v1.36"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "ai-conformance-v1.36"
    assert suite.get("tests") == "14" and suite.get("failures") == "0" and suite.get("skipped") == "0"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (r.category, f"{r.id} [{r.level}]") for r in requirements_for("v1.36")
    ]
    assert all(c.find("system-out") is not None for c in cases)


def test_junit_failures_and_skips_by_fail_on() -> None:
    ev = make_eval(
        "v1.36",
        {
            "ai_inference": "Not Implemented",  # MUST: always a failure
            "gang_scheduling": "Partially Implemented",  # MUST: always a failure
            "gpu_sharing": "Not Implemented",  # SHOULD: failure only with --fail-on should
            "virtualized_accelerator": "N/A",  # skipped either way
        },
    )
    suite = _junit(ev, "must").find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("2", "2")
    case = {c.get("name"): c for c in suite.findall("testcase")}
    failure = case["ai_inference [MUST]"].find("failure")
    assert failure is not None and failure.get("message") == "CRDsMissing"
    assert failure.text == "ai_inference is not implemented"
    skipped = case["gpu_sharing [SHOULD]"].find("skipped")
    assert skipped is not None and "--fail-on should" in (skipped.get("message") or "")
    assert case["virtualized_accelerator [SHOULD]"].find("skipped") is not None

    suite = _junit(ev, "should").find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("3", "1")
    root = _junit(ev, "should")
    assert root.get("failures") == "3"


def test_junit_escapes_markup_and_drops_control_characters() -> None:
    nasty = 'a <b> & "c" ]]> \x07 d'
    ev = make_eval("v1.36")
    bad = Verdict("ai_inference", "Not Implemented", "Bad<&>", nasty, evidence=("<evidence & more>",))
    ev = FakeEvaluation(
        **{**ev.__dict__, "verdicts": tuple(bad if v.requirement == "ai_inference" else v for v in ev.verdicts)}
    )
    text = render_junit(ev)
    assert "<b>" not in text
    root = ET.fromstring(text)
    case = next(c for c in root.iter("testcase") if c.get("name") == "ai_inference [MUST]")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "Bad<&>"
    assert failure.text == 'a <b> & "c" ]]>  d'
    out = case.find("system-out")
    assert out is not None and "<evidence & more>" in (out.text or "")


# ---------------------------------------------------------------------------------------------------------------
# PRODUCT.yaml


@pytest.mark.parametrize("version", ["v1.33", "v1.34", "v1.35", "v1.36"])
def test_product_yaml_matches_template(version: str) -> None:
    assert version in known_versions()
    ev = make_eval(version, {"gang_scheduling": "Not Implemented"}, declared_cluster_autoscaling=True)
    meta = dict(METADATA)
    if version != "v1.35":
        del meta["k8sConformanceUrl"]
    doc = yaml.safe_load(render_product_yaml(ev, version, meta))
    assert list(doc) == ["metadata", "spec"]
    assert list(doc["metadata"]) == TEMPLATE_KEYS[version]
    assert doc["metadata"]["kubernetesVersion"] == version
    assert doc["metadata"]["description"] == METADATA["description"]
    assert doc["metadata"]["platformVersion"] == "2.1"

    reqs = requirements_for(version)
    expected_categories = [c for c in CATEGORIES if any(r.category == c for r in reqs)]
    assert list(doc["spec"]) == expected_categories
    for category, items in doc["spec"].items():
        want = [r for r in reqs if r.category == category]
        assert [i["id"] for i in items] == [r.id for r in want]
        for item, req in zip(items, want, strict=True):
            assert list(item) == ["id", "description", "level", "status", "evidence", "notes"]
            assert item["description"] == req.description
            assert item["level"] == req.level
            assert isinstance(item["evidence"], list)
    items = {i["id"]: i for cat in doc["spec"].values() for i in cat}
    assert items["gang_scheduling"]["status"] == "Not Implemented"
    assert items["gang_scheduling"]["notes"] == "gang_scheduling is not implemented"
    assert items["gang_scheduling"]["evidence"] == ["CustomResourceDefinition/gang_scheduling.example.io"]
    assert items["cluster_autoscaling"]["notes"].endswith("Declared.")
    assert ("dra_support" in items) == (version != "v1.36")


def test_product_yaml_keeps_k8s_conformance_url_when_given_for_other_versions() -> None:
    doc = yaml.safe_load(render_product_yaml(make_eval("v1.36"), "v1.36", METADATA))
    assert list(doc["metadata"]) == [*BASE_KEYS, "k8sConformanceUrl"]


def test_product_yaml_repo_url_optional() -> None:
    meta = {k: v for k, v in METADATA.items() if k != "repoUrl"}
    doc = yaml.safe_load(render_product_yaml(make_eval("v1.35"), "v1.35", meta))
    assert doc["metadata"]["repoUrl"] == ""


def test_missing_metadata_lists_every_field_with_its_flag() -> None:
    with pytest.raises(MetadataError) as err:
        render_product_yaml(make_eval("v1.35"), "v1.35", {})
    problems = err.value.problems
    required = [k for k in TEMPLATE_KEYS["v1.35"] if k not in ("kubernetesVersion", "repoUrl")]
    assert len(problems) == len(required)
    for key, line in zip(required, problems, strict=True):
        assert key in line and flag_for(key) in line
    assert flag_for("k8sConformanceUrl") == "--k8s-conformance-url"
    assert flag_for("contactEmailAddress") == "--contact-email-address"
    with pytest.raises(MetadataError) as err:
        render_product_yaml(make_eval("v1.36"), "v1.36", {})
    assert not any("k8sConformanceUrl" in p for p in err.value.problems)


def test_metadata_placeholders_and_formats_rejected() -> None:
    meta = {**METADATA, "platformName": "[Platform Name]", "productLogoUrl": "https://example.com/logo.png"}
    meta["k8sConformanceUrl"] = "https://example.com/k8s"
    problems = metadata_problems("v1.35", meta)
    assert len(problems) == 3
    assert "platformName" in problems[0] and "placeholder" in problems[0]
    assert any("productLogoUrl" in p and "SVG" in p for p in problems)
    assert any("k8sConformanceUrl" in p for p in problems)
    assert metadata_problems("v1.35", {**METADATA, "kubernetesVersion": "v1.34"})


def test_normalize_metadata_aliases_and_unknown_keys() -> None:
    assert normalize_metadata({"website_url": "https://x", "platformVersion": 4.21, "repoUrl": None}) == {
        "websiteUrl": "https://x",
        "platformVersion": "4.21",
    }
    with pytest.raises(MetadataError, match="platformNmae"):
        normalize_metadata({"platformNmae": "typo"})
    with pytest.raises(MetadataError, match="must be a string"):
        normalize_metadata({"description": ["a", "b"]})


def test_product_yaml_draft_has_placeholders() -> None:
    doc = yaml.safe_load(render_product_yaml(make_eval("v1.35"), "v1.35", {}, draft=True))
    assert doc["metadata"]["platformName"] == "[Platform Name]"
    assert doc["metadata"]["kubernetesVersion"] == "v1.35"
    assert doc["metadata"]["repoUrl"] == ""
    assert list(doc["metadata"]) == TEMPLATE_KEYS["v1.35"]


def test_product_yaml_na_always_has_notes() -> None:
    ev = make_eval("v1.36")
    na = Verdict("virtualized_accelerator", "N/A", "NotApplicable", "")
    ev = FakeEvaluation(
        **{**ev.__dict__, "verdicts": tuple(na if v.requirement == na.requirement else v for v in ev.verdicts)}
    )
    doc = yaml.safe_load(render_product_yaml(ev, "v1.36", METADATA))
    item = next(i for i in doc["spec"]["accelerators"] if i["id"] == "virtualized_accelerator")
    assert item["status"] == "N/A" and item["notes"] == "NotApplicable"
