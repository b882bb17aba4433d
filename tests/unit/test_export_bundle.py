"""`aiconform export --out-dir`: the submission directory, planned in memory, validated before a write, redacted.

The evaluations here are built by hand (verdicts with tiers, faults and evidence), so these tests hold the
renderer and the validator's rules, not the checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from aiconform import __version__
from aiconform.api.models import DeclaredRequirement
from aiconform.checker import commands
from aiconform.checker.report import is_met
from aiconform.checker.report.bundle import PRODUCT_FILE, Bundle, BundleInputs, plan_bundle
from aiconform.checker.report.evidence_md import EVALUATED_AT_LABEL, object_excerpt, transcripts_of
from aiconform.checker.report.redact import REDACTED, redact_object, redact_text
from aiconform.checker.report.submission import (
    CATEGORY_MISSING,
    EVIDENCE_FILE_MISSING,
    K8S_CONFORMANCE_URL_FORMAT,
    METADATA_EMPTY,
    METADATA_MISSING,
    METADATA_NOT_STRING,
    METADATA_PLACEHOLDER,
    MUST_NOT_IMPLEMENTED,
    NA_WITHOUT_NOTES,
    REQUIREMENT_MISSING,
    STATUS_INVALID,
    check_product,
)
from aiconform.cli import main
from aiconform.conformance.catalog import known_versions, requirements_for
from aiconform.conformance.evaluate import Evaluation
from aiconform.conformance.verdict import Verdict
from aiconform.kube.snapshot import Snapshot

VERSION = "v1.36"
METADATA: dict[str, str] = {
    "platformName": "Example AI Platform",
    "platformVersion": "2.1",
    "vendorName": "Example Corp",
    "websiteUrl": "https://example.com",
    "repoUrl": "https://github.com/example/platform",
    "documentationUrl": "https://example.com/docs",
    "productLogoUrl": "https://example.com/logo.svg",
    "description": "An AI platform.",
    "contactEmailAddress": "conformance@example.com",
    "k8sConformanceUrl": "https://github.com/cncf/k8s-conformance/tree/main/v1.36/example",
}
NOW = "2026-01-02T03:04:05Z"

# Sensitive values planted in the cluster objects: none may appear in any file written.
SECRETS = (
    "hunter2-db-password",
    "c3VwZXJzZWNyZXQtdmFsdWUtdGhhdC1pcy1sb25nLWVub3VnaA==",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl",
    "sk-live-ABCDEFGHIJKLMNOPQRSTUVWX",
    "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij",
    "MIIEowIBAAKCAQEAsecretkeymaterial",
    "S3cr3tQueryT0ken",
)


def crd(name: str, kind: str) -> dict[str, Any]:
    plural, group = name.split(".", 1)
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": "v1beta2", "served": True, "storage": True, "schema": {"huge": "schema"}}],
        },
        "status": {
            "conditions": [{"type": "Established", "status": "True", "lastTransitionTime": "2026-01-01T00:00Z"}]
        },
    }


def fleet() -> Snapshot:
    node = {
        "metadata": {
            "name": "kwok-h100-0000",
            "labels": {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "kubernetes.io/hostname": "kwok-h100-0000",
            },
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"token": "' + SECRETS[2] + '"}',
            },
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "96", "nvidia.com/gpu": "8"}},
    }
    rslice = {
        "apiVersion": "resource.k8s.io/v1",
        "metadata": {"name": "kwok-h100-0000-gpu.nvidia.com", "generation": 1},
        "spec": {
            "driver": "gpu.nvidia.com",
            "nodeName": "kwok-h100-0000",
            "pool": {"name": "kwok-h100-0000", "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {"name": f"gpu-{i}", "attributes": {"driverVersion": {"version": "550.54.15"}}} for i in range(8)
            ],
        },
    }
    deployment = {
        "metadata": {"name": "kueue-controller-manager", "namespace": "kueue-system", "generation": 3},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "manager",
                            "image": "registry.k8s.io/kueue/kueue:v0.14.0",
                            "args": ["--token=" + SECRETS[4]],
                            "env": [
                                {"name": "DB_PASSWORD", "value": SECRETS[0]},
                                {"name": "API_KEY", "value": SECRETS[3]},
                            ],
                        }
                    ]
                }
            },
        },
        "status": {"availableReplicas": 1, "observedGeneration": 3},
    }
    pod = {
        "metadata": {
            "name": "vllm-0",
            "namespace": "team-a",
            "labels": {"app": "vllm"},
            "annotations": {"example.com/kubeconfig": "client-key-data: " + SECRETS[5]},
        },
        "spec": {
            "nodeName": "kwok-h100-0000",
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai:v0.9",
                    "env": [{"name": "HF_TOKEN", "value": SECRETS[1]}],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    secret = {
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": "team-a"},
        "data": {"token": SECRETS[1]},
        "stringData": {"password": SECRETS[0]},
    }
    cq = {
        "metadata": {"name": "gpu", "generation": 2},
        "spec": {"namespaceSelector": {}, "resourceGroups": [{"coveredResources": ["nvidia.com/gpu"]}]},
        "status": {
            "pendingWorkloads": 0,
            "conditions": [{"type": "Active", "status": "True", "reason": "Ready", "observedGeneration": 2}],
        },
    }
    return Snapshot(
        server_version="v1.37.2",
        nodes=(node,),
        resource_slices=(rslice,),
        device_classes=(
            {"metadata": {"name": "gpu.nvidia.com"}, "spec": {"selectors": [{"cel": {"expression": "x"}}]}},
        ),
        deployments=(deployment,),
        pods=(pod,),
        crds=(crd("clusterqueues.kueue.x-k8s.io", "ClusterQueue"),),
        custom={"clusterqueues.kueue.x-k8s.io": (cq,), "secrets": (secret,)},
    )


EVIDENCE: Mapping[str, tuple[str, ...]] = {
    "accelerator_metrics": ("ResourceSlice/kwok-h100-0000-gpu.nvidia.com", "Node/kwok-h100-0000"),
    "gang_scheduling": (
        "CRD clusterqueues.kueue.x-k8s.io Established",
        "Deployment/kueue-system/kueue-controller-manager available",
        "ClusterQueue/gpu Active",
    ),
    "secure_accelerator_access": ("Pod/team-a/vllm-0 isolated", "Secret/team-a/hf-token mounted"),
    "ai_inference": ("DeviceClass/gpu.nvidia.com",),
}


def make_evaluation(
    statuses: Mapping[str, str] | None = None, version: str = VERSION, **overrides: Verdict
) -> Evaluation:
    statuses = statuses or {}
    reqs = requirements_for(version)
    verdicts = []
    for r in reqs:
        status = statuses.get(r.id, "Implemented")
        verdicts.append(
            overrides.get(r.id)
            or Verdict(
                r.id,
                status,  # type: ignore[arg-type]
                "APIVerified" if status == "Implemented" else "NotReady",
                f"{r.id} looks {status.lower()}",
                EVIDENCE.get(r.id, (f"fact about {r.id}",)),
                tier="ControllerStatus",
                faults=("Pod team-a/x runs privileged",) if status == "Not Implemented" else (),
            )
        )
    level = {r.id: r.level for r in reqs}
    musts = [v for v in verdicts if level[v.requirement] == "MUST"]
    shoulds = [v for v in verdicts if level[v.requirement] == "SHOULD"]
    return Evaluation(
        version=version,
        verdicts=tuple(verdicts),
        levels=MappingProxyType(level),
        categories=MappingProxyType({r.id: r.category for r in reqs}),
        must_met=sum(map(is_met, musts)),
        must_total=len(musts),
        should_met=sum(map(is_met, shoulds)),
        should_total=len(shoulds),
        conformant=all(map(is_met, musts)),
    )


def inputs(out_dir: Path, **kw: Any) -> BundleInputs:
    base: dict[str, Any] = {
        "evaluation": make_evaluation(),
        "snapshot": fleet(),
        "metadata": METADATA,
        "out_dir": out_dir,
        "evaluated_at": NOW,
    }
    base.update(kw)
    return BundleInputs(**base)


def all_text(bundle: Bundle) -> str:
    return "\n".join(d.decode("utf-8", "replace") for d in bundle.files.values())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "v1.36" / "example"


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def test_one_evidence_file_per_requirement_listed_first(out: Path) -> None:
    bundle = plan_bundle(inputs(out))
    assert bundle.problems == []
    ids = [r.id for r in requirements_for(VERSION)]
    assert bundle.evidence_files == [f"evidence/{i}.md" for i in ids]
    assert list(bundle.files)[-1] == PRODUCT_FILE
    doc = yaml.safe_load(bundle.product)
    items = {i["id"]: i for items in doc["spec"].values() for i in items}
    for i in ids:
        assert items[i]["evidence"] == [f"evidence/{i}.md"]
    assert doc["metadata"]["k8sConformanceUrl"] == METADATA["k8sConformanceUrl"]
    assert "DRAFT" not in bundle.product


def test_evidence_file_content(out: Path) -> None:
    bundle = plan_bundle(inputs(out))
    text = bundle.files["evidence/gang_scheduling.md"].decode()
    assert text.startswith("# gang_scheduling: Implemented\n")
    for expected in (
        "| Status | **Implemented** |",
        "| Evidence tier | ControllerStatus — a status the responsible controller wrote",
        "| Reason | `APIVerified` |",
        "gang_scheduling looks implemented",
        "| Checklist | v1.36 |",
        "| Cluster | Kubernetes v1.37.2 |",
        f"| aiconform | {__version__} |",
        f"| {EVALUATED_AT_LABEL} | {NOW} |",
        "- `ClusterQueue/gpu Active`",
        "### CustomResourceDefinition/clusterqueues.kueue.x-k8s.io",
        "### Deployment/kueue-system/kueue-controller-manager",
        "### ClusterQueue/gpu",
    ):
        assert expected in text, expected
    # short excerpts: the fields that matter, not whole objects, no timestamps
    assert "huge" not in text and "lastTransitionTime" not in text
    assert "image: registry.k8s.io/kueue/kueue:v0.14.0" in text
    assert "type: Active" in text and "observedGeneration: 2" in text
    assert "## Probe transcripts" not in text


def test_excerpts_keep_the_fields_that_matter() -> None:
    snap = fleet()
    ex = object_excerpt("ResourceSlice", snap.resource_slices[0])
    assert ex["spec"]["driver"] == "gpu.nvidia.com" and ex["spec"]["nodeName"] == "kwok-h100-0000"
    assert len(ex["spec"]["devices"]) == 5 and ex["spec"]["devices"][-1] == "... and 4 more"
    assert ex["spec"]["devices"][0]["attributes"]["driverVersion"] == {"version": "550.54.15"}
    node = object_excerpt("Node", snap.nodes[0])
    assert node["metadata.labels"] == {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    }
    assert node["status.allocatable"] == {"nvidia.com/gpu": "8"}
    assert "annotations" not in str(node)
    dep = object_excerpt("Deployment", snap.deployments[0])
    assert dep["spec"]["template.spec.containers"] == [
        {"name": "manager", "image": "registry.k8s.io/kueue/kueue:v0.14.0"}
    ]


def test_faults_and_declared_flag_rendered(out: Path) -> None:
    ev = make_evaluation({"secure_accelerator_access": "Not Implemented"})
    bundle = plan_bundle(inputs(out, evaluation=ev, allow_unmet=True))
    text = bundle.files["evidence/secure_accelerator_access.md"].decode()
    assert "## Objects at fault\n\n- Pod team-a/x runs privileged" in text
    assert "| Declared in spec.requirements | no |" in text
    assert "**DRAFT**" in text


@dataclasses.dataclass(frozen=True)
class ProbedVerdict(Verdict):
    transcripts: tuple[Any, ...] = ()


def test_transcript_section_appears_when_the_verdict_carries_one(out: Path) -> None:
    probed = ProbedVerdict(
        "secure_accelerator_access",
        "Implemented",
        "APIVerified",
        "isolation probe passed",
        ("Pod/team-a/vllm-0",),
        tier="Observed",
        transcripts=(
            {"title": "isolation canary", "command": "nvidia-smi -L", "output": "GPU 0: H100 (UUID: GPU-1)"},
            "plain transcript line\nsecond line",
        ),
    )
    bundle = plan_bundle(inputs(out, evaluation=make_evaluation(secure_accelerator_access=probed)))
    text = bundle.files["evidence/secure_accelerator_access.md"].decode()
    assert "## Probe transcripts" in text
    assert "### isolation canary\n\n```text\n$ nvidia-smi -L\nGPU 0: H100 (UUID: GPU-1)\n```" in text
    assert "### Probe 2\n\n```text\nplain transcript line\nsecond line\n```" in text
    assert "| Evidence tier | Observed — a probe ran a canary" in text
    assert transcripts_of(Verdict("x", "N/A", "r", "m")) == []


# ---------------------------------------------------------------------------------------------------------------
# Declarations: URLs listed, files copied in


def declared(*evidence: str, status: str = "Implemented", notes: str = "declared") -> DeclaredRequirement:
    return DeclaredRequirement.model_validate({"status": status, "notes": notes, "evidence": list(evidence)})


def test_declared_urls_and_files(out: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profiles" / "prod.yaml"
    (profile.parent / "docs").mkdir(parents=True)
    profile.write_text("spec: {}\n")
    (profile.parent / "docs" / "isolation test.md").write_text("ran it; token: " + SECRETS[6] + "\n")
    (profile.parent / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    out.mkdir(parents=True)
    (out / "runbook.md").write_text("kept in the submission directory\n")
    decl = declared(
        "https://example.com/isolation",
        "docs/isolation test.md",
        "shot.png",
        str(out / "runbook.md"),
    )
    bundle = plan_bundle(
        inputs(out, declarations={"secure_accelerator_access": decl}, profile_path=profile, force=True)
    )
    assert bundle.problems == []
    doc = yaml.safe_load(bundle.product)
    item = next(i for i in doc["spec"]["security"] if i["id"] == "secure_accelerator_access")
    assert item["evidence"] == [
        "evidence/secure_accelerator_access.md",
        "https://example.com/isolation",
        "evidence/declared/secure_accelerator_access/isolation_test.md",
        "evidence/declared/secure_accelerator_access/shot.png",
        "runbook.md",
    ]
    copied = bundle.files["evidence/declared/secure_accelerator_access/isolation_test.md"].decode()
    assert SECRETS[6] not in copied and REDACTED in copied
    assert bundle.files["evidence/declared/secure_accelerator_access/shot.png"] == b"\x89PNG\r\n\x1a\n\x00\xff"
    md = bundle.files["evidence/secure_accelerator_access.md"].decode()
    assert "## Declared evidence" in md
    assert "(declared/secure_accelerator_access/isolation_test.md)" in md
    assert "[https://example.com/isolation](https://example.com/isolation)" in md


def test_declared_evidence_that_is_neither_url_nor_file_is_refused(out: Path, tmp_path: Path) -> None:
    profile = tmp_path / "prod.yaml"
    decl = declared("Internal runbook section 3", "missing.md")
    bundle = plan_bundle(inputs(out, declarations={"gang_scheduling": decl}, profile_path=profile))
    assert len(bundle.problems) == 2, bundle.problems
    assert bundle.problems[0].startswith(f"spec.requirements.gang_scheduling.evidence[0] in --profile {profile}:")
    assert "'Internal runbook section 3' is neither an http(s) URL nor a file" in bundle.problems[0]
    assert bundle.problems[1].startswith("spec.requirements.gang_scheduling.evidence[1]")


# ---------------------------------------------------------------------------------------------------------------
# Each validate.go rule refuses, with a message naming the flag or field


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("platformName", None, "missing metadata field platformName: pass --platform-name"),
        ("vendorName", "[Vendor Name]", "metadata field vendorName is a template placeholder '[Vendor Name]': pass"),
        ("k8sConformanceUrl", None, "missing metadata field k8sConformanceUrl: pass --k8s-conformance-url"),
        ("k8sConformanceUrl", "https://github.com/cncf/k8s-conformance/v1.36/x", "--k8s-conformance-url)"),
        ("productLogoUrl", "https://example.com/logo.png", "must link to an SVG, EPS or AI file"),
        ("contactEmailAddress", "", "missing metadata field contactEmailAddress: pass --contact-email-address"),
    ],
)
def test_metadata_rules_refuse(out: Path, key: str, value: str | None, expect: str) -> None:
    meta = {k: v for k, v in METADATA.items() if k != key}
    if value:
        meta[key] = value
    bundle = plan_bundle(inputs(out, metadata=meta))
    assert len(bundle.problems) == 1 and expect in bundle.problems[0], bundle.problems


def test_must_not_implemented_refused_unless_allow_unmet(out: Path) -> None:
    ev = make_evaluation({"ai_inference": "Partially Implemented", "gpu_sharing": "Not Implemented"})
    refused = plan_bundle(inputs(out, evaluation=ev))
    assert len(refused.problems) == 1, refused.problems
    problem = refused.problems[0]
    assert problem.startswith("ai_inference is a MUST and Partially Implemented (NotReady)")
    assert "spec.requirements.ai_inference" in problem and "--allow-unmet" in problem
    assert not refused.draft

    draft = plan_bundle(inputs(out, evaluation=ev, allow_unmet=True))
    assert draft.problems == [] and draft.draft and draft.unmet == ["ai_inference"]
    assert draft.product.startswith("# DRAFT — exported with --allow-unmet; not ready to submit. ")
    assert "ai_inference" in draft.product.splitlines()[0]
    assert any("writing a DRAFT" in w for w in draft.warnings)
    doc = yaml.safe_load(draft.product)  # the marker is a comment: the YAML validate.go reads is unchanged
    assert set(doc) == {"metadata", "spec"}


def test_conditional_must_na_is_refused_with_the_faq_divergence_explained(out: Path) -> None:
    na = Verdict("cluster_autoscaling", "N/A", "Declared", "on-prem, fixed pools", declared=True, tier="Declared")
    ev = make_evaluation(cluster_autoscaling=na)
    bundle = plan_bundle(inputs(out, evaluation=ev))
    assert len(bundle.problems) == 1
    assert "cluster_autoscaling is a MUST and N/A" in bundle.problems[0]
    (warning,) = [w for w in bundle.warnings if "conditional MUST" in w]
    assert "FAQ allows N/A with a justification" in warning and "validate.go rejects" in warning
    draft = plan_bundle(inputs(out, evaluation=ev, allow_unmet=True))
    assert draft.problems == [] and draft.draft
    item = next(
        i for i in yaml.safe_load(draft.product)["spec"]["schedulingOrchestration"] if i["id"] == "cluster_autoscaling"
    )
    assert item["status"] == "N/A" and item["notes"].startswith("on-prem, fixed pools")


def test_out_dir_under_another_version_is_refused(tmp_path: Path) -> None:
    bundle = plan_bundle(inputs(tmp_path / "v1.35" / "example"))
    assert any("is under v1.35/ but the evaluated checklist is v1.36" in p for p in bundle.problems)
    loose = plan_bundle(inputs(tmp_path / "bundle"))
    assert loose.problems == []
    assert any("is not a v1.36/<product> directory" in w for w in loose.warnings)


def test_existing_files_need_force(out: Path) -> None:
    out.mkdir(parents=True)
    (out / "evidence").mkdir()
    (out / "evidence" / "ai_inference.md").write_text("mine\n")
    bundle = plan_bundle(inputs(out))
    assert bundle.problems == [f"{out / 'evidence' / 'ai_inference.md'} exist; pass --force to overwrite them"]
    assert plan_bundle(inputs(out, force=True)).problems == []


def _doc(**items: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, list[dict[str, Any]]] = {}
    for r in requirements_for(VERSION):
        item = {"id": r.id, "level": r.level, "status": "Implemented", "evidence": ["https://e.x"], "notes": ""}
        item.update(items.get(r.id, {}))
        spec.setdefault(r.category, []).append(item)
    return {"metadata": {"kubernetesVersion": VERSION, **METADATA}, "spec": spec}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: d["metadata"].pop("description"), METADATA_MISSING),
        (lambda d: d["metadata"].update(platformVersion=2.1), METADATA_NOT_STRING),
        (lambda d: d["metadata"].update(websiteUrl=""), METADATA_EMPTY),
        (lambda d: d["metadata"].update(platformName="[Platform Name]"), METADATA_PLACEHOLDER),
        (lambda d: d["metadata"].update(k8sConformanceUrl="https://example.com"), K8S_CONFORMANCE_URL_FORMAT),
        (lambda d: d["spec"].pop("operator"), CATEGORY_MISSING),
        (lambda d: d["spec"]["security"].clear(), REQUIREMENT_MISSING),
        (lambda d: d["spec"]["accelerators"][0].update(status="Done"), STATUS_INVALID),
        (lambda d: d["spec"]["security"][0].update(status="Not Implemented"), MUST_NOT_IMPLEMENTED),
        (lambda d: d["spec"]["accelerators"][0].update(status="N/A", notes=""), NA_WITHOUT_NOTES),
        (lambda d: d["spec"]["accelerators"][0].update(evidence=["evidence/nope.md"]), EVIDENCE_FILE_MISSING),
    ],
)
def test_each_validator_rule(change: Any, rule: str) -> None:
    doc = _doc()
    assert check_product(doc, VERSION, lambda e: False) == []
    change(doc)
    assert [f.rule for f in check_product(doc, VERSION, lambda e: False)] == [rule]


def test_validator_skips_empty_should_and_accepts_snake_case() -> None:
    doc = _doc(gpu_sharing={"status": "", "evidence": []})
    doc["metadata"]["website_url"] = doc["metadata"].pop("websiteUrl")
    assert check_product(doc, VERSION, lambda e: False) == []
    assert check_product(_doc(gpu_sharing={"evidence": ["x.md"]}), VERSION, lambda e: e == "x.md") == []


# ---------------------------------------------------------------------------------------------------------------
# Redaction


def test_redact_object_secret_env_and_credentials() -> None:
    obj = fleet().custom["secrets"][0]
    red = redact_object(obj)
    assert red["data"] == REDACTED and red["stringData"] == REDACTED
    assert red["metadata"] == {"name": "hf-token", "namespace": "team-a"}
    env = redact_object({"env": [{"name": "A", "value": "x"}, {"name": "B", "valueFrom": {"secretKeyRef": {}}}]})
    assert env == {"env": [{"name": "A", "value": REDACTED}, {"name": "B", "value": REDACTED}]}
    creds = redact_object({"users": [{"user": {"token": "abc", "client-key-data": "def", "username": "u"}}]})
    assert creds == {"users": [{"user": {"token": REDACTED, "client-key-data": REDACTED, "username": "u"}}]}
    keep = {"volumes": [{"secret": {"secretName": "tls"}}], "automountServiceAccountToken": False}
    assert redact_object(keep)["volumes"] == [{"secret": {"secretName": "tls"}}]
    assert redact_object(keep)["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        f"Authorization: Bearer {SECRETS[2]}",
        f"token: {SECRETS[2]}",
        "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==",
        'users:\n- name: admin\n  user:\n    password: "correct horse"',
        "DB_PASSWORD=hunter2-db-password",
        "--token=abcdef123456",
        "https://admin:pa55w0rd@registry.example.com/v2",
        "https://example.com/report?sig=abcdef&x=1",
        f"pushed with {SECRETS[4]}",
        f"value {SECRETS[1]}",
    ],
)
def test_redact_text(text: str) -> None:
    red = redact_text(text)
    assert red != text
    for secret in ("MIIEowIBAAKCAQEA", SECRETS[2], "LS0tLS1CRUdJTi", "correct", "hunter2", "abcdef", "pa55w0rd"):
        assert secret not in red, red
    assert SECRETS[4] not in red and SECRETS[1] not in red
    assert redact_text(red) == red


def test_redaction_leaves_checklists_and_ordinary_evidence_alone() -> None:
    for version in known_versions():
        for r in requirements_for(version):
            assert redact_text(r.description) == r.description, r.id
    ordinary = (
        "https://github.com/cncf/k8s-conformance/tree/main/v1.36/example",
        "ResourceSlice/kwok-a100-0000-gpu.nvidia.com devices: gpu-0 (uuid GPU-5f3a1c2e-0000-4000-8000-000000000000)",
        "image: nvcr.io/nvidia/k8s/dcgm-exporter@sha256:" + "ab12" * 16,
        "spec.requirements.cluster_autoscaling with status N/A; secretName: tls",
    )
    for text in ordinary:
        assert redact_text(text) == text


def test_nothing_sensitive_in_any_file(out: Path) -> None:
    ev = make_evaluation(
        gang_scheduling=Verdict(
            "gang_scheduling",
            "Implemented",
            "APIVerified",
            f"kueue up; its webhook said token={SECRETS[6]}",
            EVIDENCE["gang_scheduling"],
            tier="ControllerStatus",
        ),
    )
    bundle = plan_bundle(inputs(out, evaluation=ev))
    text = all_text(bundle)
    for secret in SECRETS:
        assert secret not in text, secret
    for fragment in ("hunter2", "c3VwZXJzZWNyZXQ", "eyJhbGci", "ABCDEFGHIJKLMNOPQRSTUVWX", "ghp_", "MIIEow"):
        assert fragment not in text, fragment
    pod_md = bundle.files["evidence/secure_accelerator_access.md"].decode()
    assert "### Secret/team-a/hf-token" in pod_md  # cited, so excerpted: its name, never its data
    assert "\ndata:" not in pod_md.split("### Secret/team-a/hf-token")[1]
    assert "stringData" not in pod_md
    assert "- name: HF_TOKEN" not in pod_md  # no env at all in the pod's excerpt
    assert "image: vllm/vllm-openai:v0.9" in pod_md


# ---------------------------------------------------------------------------------------------------------------
# Determinism


def _without_time(bundle: Bundle) -> dict[str, str]:
    return {
        p: re.sub(rf"\| {EVALUATED_AT_LABEL} \| [^|]+\|", "", d.decode("utf-8", "replace"))
        for p, d in bundle.files.items()
    }


def test_same_cluster_same_files_timestamps_aside(out: Path) -> None:
    snap = fleet()
    shuffled = dataclasses.replace(
        snap,
        nodes=tuple(reversed(snap.nodes)),
        custom=dict(reversed(list(snap.custom.items()))),
        crds=tuple(reversed(snap.crds)),
    )
    a = plan_bundle(inputs(out, snapshot=snap, evaluated_at="2026-01-01T00:00:00Z"))
    b = plan_bundle(inputs(out, snapshot=shuffled, evaluated_at="2026-06-30T23:59:59Z"))
    assert a.files != b.files
    assert _without_time(a) == _without_time(b)
    assert plan_bundle(inputs(out, snapshot=snap, evaluated_at="2026-01-01T00:00:00Z")).files == a.files


# ---------------------------------------------------------------------------------------------------------------
# The command: nothing written on refusal, --force, flag conflicts


@pytest.fixture
def fake_cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"evaluation": make_evaluation(), "snapshot": fleet(), "now": NOW}

    def fake_evaluate(args: argparse.Namespace, spec: Any = None) -> tuple[Evaluation, Snapshot]:
        return state["evaluation"], state["snapshot"]

    monkeypatch.setattr(commands, "_evaluate", fake_evaluate)
    monkeypatch.setattr(commands, "_now", lambda: state["now"])
    return state


def metadata_flags() -> list[str]:
    from aiconform.checker.report.product_yaml import flag_for

    return [x for k, v in METADATA.items() for x in (flag_for(k), v)]


def export(out: Path, *extra: str) -> int:
    return main(["export", "--kubeconfig", "/nonexistent", "--out-dir", str(out), *metadata_flags(), *extra])


def test_cli_writes_the_bundle_and_never_overwrites(
    out: Path, fake_cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(out) == 0
    err = capsys.readouterr().err
    assert f"wrote {out / 'PRODUCT.yaml'} and 14 evidence files" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(["PRODUCT.yaml", *(f"evidence/{r.id}.md" for r in requirements_for(VERSION))])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    fake_cluster["now"] = "2030-01-01T00:00:00Z"
    assert export(out) == 2
    err = capsys.readouterr().err
    assert "exist; pass --force to overwrite them" in err and "nothing was written" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    assert export(out, "--force") == 0
    capsys.readouterr()
    assert "2030-01-01T00:00:00Z" in (out / "evidence" / "ai_inference.md").read_text()


def test_cli_refusal_writes_nothing_and_lists_every_problem(
    tmp_path: Path, fake_cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_cluster["evaluation"] = make_evaluation({"ai_inference": "Not Implemented", "pod_autoscaling": "N/A"})
    out = tmp_path / "v1.36" / "example"
    assert export(out) == 2
    err = capsys.readouterr().err
    assert "refusing to write" in err
    assert "  ai_inference is a MUST and Not Implemented" in err
    assert "  pod_autoscaling is a MUST and N/A" in err
    assert "aiconform: warning: pod_autoscaling: N/A on a conditional MUST" in err
    assert not out.exists()
    assert export(out, "--allow-unmet") == 0
    assert "wrote DRAFT" in capsys.readouterr().err
    assert (out / "PRODUCT.yaml").read_text().startswith("# DRAFT")


def test_cli_flag_conflicts(tmp_path: Path, fake_cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert export(tmp_path / "b", "-o", str(tmp_path / "P.yaml")) == 2
    assert "-o and --out-dir exclude each other" in capsys.readouterr().err
    argv = ["export", "--kubeconfig", "/nonexistent", *metadata_flags(), "--allow-unmet"]
    assert main(argv) == 2
    assert "--allow-unmet only applies to --out-dir" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert export(tmp_path / "file") == 2
    assert "is not a directory" in capsys.readouterr().err


def test_cli_k8s_conformance_url_required_before_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("the cluster must not be contacted")

    monkeypatch.setattr(commands, "_evaluate", boom)
    flags = [x for k, v in METADATA.items() if k != "k8sConformanceUrl" for x in (f"--{_kebab(k)}", v)]
    code = main(["export", "--kubeconfig", "/nonexistent", "--out-dir", str(tmp_path / "o"), *flags])
    assert code == 2
    err = capsys.readouterr().err
    assert sum("--k8s-conformance-url" in line for line in err.splitlines()) == 1


def _kebab(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()
