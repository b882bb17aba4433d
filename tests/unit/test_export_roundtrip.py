"""Round trip: `aiconform export --out-dir`, then the written directory re-validated by an independent reader.

The reader below parses the files the way cncf/k8s-ai-conformance `scripts/validate.go` does (YAML load of
PRODUCT.yaml, the version from the path, the metadata fields, every template category and id, statuses, MUSTs,
N/A notes, and every evidence entry an http(s) URL or a file relative to PRODUCT.yaml's directory) using only
the file system and the checklist catalog: none of the writer's helpers.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_export_bundle import METADATA, SECRETS, fleet, make_evaluation

from aiconform.checker import commands
from aiconform.cli import main
from aiconform.conformance.catalog import requirements_for
from aiconform.conformance.evaluate import Evaluation
from aiconform.kube.snapshot import Snapshot

REQUIRED_METADATA = [
    "kubernetesVersion",
    "platformName",
    "platformVersion",
    "vendorName",
    "websiteUrl",
    "documentationUrl",
    "productLogoUrl",
    "description",
    "contactEmailAddress",
    "k8sConformanceUrl",
]


def read_and_validate(product: Path) -> list[str]:
    """validate.go's offline rules, from the files alone."""
    errors: list[str] = []
    m = re.search(r"(?:^|/)(v\d+\.\d+)/", product.as_posix())
    assert m, "validate.go reads the version from the path"
    version = m.group(1)
    doc = yaml.safe_load(product.read_text(encoding="utf-8"))
    meta = doc.get("metadata") or {}
    for key in [*REQUIRED_METADATA, "repoUrl"]:
        snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()
        value = meta.get(key, meta.get(snake))
        if value is None:
            if key != "repoUrl":
                errors.append(f"missing {key}")
        elif not isinstance(value, str):
            errors.append(f"{key} not a string")
        elif value.startswith("[") and value.endswith("]"):
            errors.append(f"{key} placeholder")
        elif value == "" and key != "repoUrl":
            errors.append(f"{key} empty")
    if not re.match(
        r"^https://github\.com/cncf/k8s-conformance/tree/(master|main)/v\d+\.\d+/[^/]+/?$",
        meta.get("k8sConformanceUrl", ""),
    ):
        errors.append("k8sConformanceUrl format")
    spec = doc.get("spec") or {}
    for req in requirements_for(version):
        items = {i["id"]: i for i in spec.get(req.category) or []}
        item = items.get(req.id)
        if item is None:
            errors.append(f"missing {req.id}")
            continue
        if item.get("description") != req.description or item.get("level") != req.level:
            errors.append(f"{req.id}: id, description and level must be the template's")
        status = item.get("status") or ""
        if req.level == "SHOULD" and not status and not item.get("evidence"):
            continue
        if status not in ("Implemented", "Not Implemented", "Partially Implemented", "N/A"):
            errors.append(f"{req.id}: status {status!r}")
        if req.level == "MUST" and status != "Implemented":
            errors.append(f"{req.id}: MUST {status}")
        if status == "N/A" and not item.get("notes"):
            errors.append(f"{req.id}: N/A without notes")
        for entry in item.get("evidence") or []:
            if not isinstance(entry, str):
                errors.append(f"{req.id}: evidence {entry!r} not a string")
            elif entry.startswith(("http://", "https://")):
                continue
            elif not os.path.exists(os.path.join(product.parent, entry)):
                errors.append(f"{req.id}: evidence file {entry} not found")
    return errors


@pytest.fixture
def cluster_state(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"evaluation": make_evaluation(), "snapshot": fleet()}

    def fake_evaluate(args: argparse.Namespace, spec: Any = None) -> tuple[Evaluation, Snapshot]:
        return state["evaluation"], state["snapshot"]

    monkeypatch.setattr(commands, "_evaluate", fake_evaluate)
    return state


def _flags() -> list[str]:
    return [x for k, v in METADATA.items() for x in ("--" + re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", k).lower(), v)]


def test_round_trip_passes_the_validators_offline_rules(tmp_path: Path, cluster_state: dict[str, Any]) -> None:
    profile = tmp_path / "profile.yaml"
    (tmp_path / "proof").mkdir()
    (tmp_path / "proof" / "isolation.md").write_text("# isolation test\npassed\n")
    profile.write_text(
        yaml.safe_dump(
            {
                "spec": {
                    "requirements": {
                        "secure_accelerator_access": {
                            "status": "Implemented",
                            "notes": "isolation test on H100 nodes",
                            "evidence": ["proof/isolation.md", "https://example.com/isolation"],
                        }
                    }
                }
            }
        )
    )
    out = tmp_path / "fork" / "v1.36" / "example"
    code = main(["export", "--kubeconfig", "/x", "--profile", str(profile), "--out-dir", str(out), *_flags()])
    assert code == 0
    product = out / "PRODUCT.yaml"
    assert read_and_validate(product) == []
    doc = yaml.safe_load(product.read_text())
    entries = [e for items in doc["spec"].values() for i in items for e in i["evidence"]]
    files = [e for e in entries if not e.startswith("http")]
    assert len(files) == len(requirements_for("v1.36")) + 1  # one per requirement, plus the declared file
    assert "evidence/declared/secure_accelerator_access/isolation.md" in files
    for r in requirements_for("v1.36"):
        assert (out / "evidence" / f"{r.id}.md").read_text().startswith(f"# {r.id}: ")
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    for secret in SECRETS:
        assert secret not in written


def test_round_trip_of_a_draft_fails_only_on_the_unmet_musts(tmp_path: Path, cluster_state: dict[str, Any]) -> None:
    cluster_state["evaluation"] = make_evaluation({"ai_inference": "Not Implemented", "gpu_sharing": "N/A"})
    out = tmp_path / "v1.36" / "example"
    assert main(["export", "--kubeconfig", "/x", "--out-dir", str(out), "--allow-unmet", *_flags()]) == 0
    assert read_and_validate(out / "PRODUCT.yaml") == ["ai_inference: MUST Not Implemented"]
    assert (out / "PRODUCT.yaml").read_text().startswith("# DRAFT")
