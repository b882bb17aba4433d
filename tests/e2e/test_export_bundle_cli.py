"""e2e: `aiconform export --out-dir` against the dev cluster with examples/production.yaml, as a vendor runs it
before opening a pull request to cncf/k8s-ai-conformance, then the written directory re-validated by an
independent reader of the files (validate.go's offline rules, none of the writer's helpers).

The bare dev cluster is not conformant, so the export refuses without --allow-unmet (nothing written) and
writes a draft with it.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AICONFORM, ROOT, Cluster
from test_check_cli import METADATA_FLAGS as CHECK_METADATA_FLAGS

from aiconform.conformance.catalog import requirements_for

pytestmark = pytest.mark.e2e

VERSION = "v1.36"  # the dev cluster runs v1.37: auto resolves to the newest checklist
# check's metadata flags, plus the one validate.go demands for every version.
METADATA_FLAGS = [
    *CHECK_METADATA_FLAGS,
    "--k8s-conformance-url",
    "https://github.com/cncf/k8s-conformance/tree/main/v1.36/dev",
]
PLANTED = f"planted-{uuid.uuid4().hex}"


def aiconform(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run([*AICONFORM, *args], capture_output=True, text=True, timeout=180, check=False, env=env)


def reader_problems(product: Path) -> list[str]:
    """What validate.go would reject offline, read from the files alone."""
    problems: list[str] = []
    version = re.search(r"(?:^|/)(v\d+\.\d+)/", product.as_posix())
    assert version and version.group(1) == VERSION
    doc = yaml.safe_load(product.read_text(encoding="utf-8"))
    meta = doc["metadata"]
    for key in (
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
    ):
        value = meta.get(key)
        if not isinstance(value, str) or not value or (value.startswith("[") and value.endswith("]")):
            problems.append(f"metadata {key}")
    for req in requirements_for(VERSION):
        item = next((i for i in doc["spec"].get(req.category) or [] if i.get("id") == req.id), None)
        if item is None:
            problems.append(f"missing {req.id}")
            continue
        if item["status"] not in ("Implemented", "Partially Implemented", "Not Implemented", "N/A"):
            problems.append(f"{req.id} status")
        if req.level == "MUST" and item["status"] != "Implemented":
            problems.append(f"MUST {req.id}")
        if item["status"] == "N/A" and not item.get("notes"):
            problems.append(f"{req.id} N/A without notes")
        for entry in item.get("evidence") or []:
            if not entry.startswith(("http://", "https://")) and not (product.parent / entry).exists():
                problems.append(f"{req.id} evidence {entry}")
    return problems


@pytest.fixture
def planted(cluster: Cluster) -> Iterator[str]:
    """A tenant namespace with a Secret and a GPU pod whose environment carries a value nobody may see."""
    ns = f"aiconform-e2e-export-{uuid.uuid4().hex[:6]}"
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"aiconform.io/tenant": "true"}}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token", "namespace": ns},
            "stringData": {"token": PLANTED},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "vllm", "namespace": ns, "labels": {"aiconform.io/inference": "true"}},
            "spec": {
                "containers": [
                    {
                        "name": "vllm",
                        "image": "vllm/vllm-openai:e2e",
                        "env": [{"name": "HF_TOKEN", "value": PLANTED}],
                        "args": [f"--api-key={PLANTED}"],
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ]
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(m) for m in manifests))
    try:
        yield ns
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_out_dir_production_profile_round_trip(cluster: Cluster, planted: str, tmp_path: Path) -> None:
    out = tmp_path / VERSION / "dev"
    base = [
        "export",
        "--kubeconfig",
        cluster.kubeconfig,
        "--profile",
        str(ROOT / "examples" / "production.yaml"),
        "--no-scrape",
        *METADATA_FLAGS,
        "--out-dir",
        str(out),
    ]

    refused = aiconform(*base)
    assert refused.returncode == 2, refused.stderr
    assert "nothing was written" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists()
    assert "ai_inference is a MUST and Not Implemented" in refused.stderr  # no Gateway API on the dev cluster
    assert "cluster_autoscaling is a MUST and N/A (Declared)" in refused.stderr  # production.yaml declares it
    assert "warning: cluster_autoscaling: N/A on a conditional MUST. The CNCF FAQ allows N/A" in refused.stderr

    draft = aiconform(*base, "--allow-unmet")
    assert draft.returncode == 0, draft.stderr
    assert f"wrote DRAFT {out / 'PRODUCT.yaml'} and 14 evidence files" in draft.stderr
    product = out / "PRODUCT.yaml"
    assert product.read_text().startswith("# DRAFT")
    problems = reader_problems(product)
    assert problems and all(p.startswith("MUST ") for p in problems), problems  # only the unmet MUSTs
    assert "MUST cluster_autoscaling" in problems and "MUST ai_inference" in problems

    doc = yaml.safe_load(product.read_text())
    items = {i["id"]: i for its in doc["spec"].values() for i in its}
    assert items["cluster_autoscaling"]["evidence"] == [
        "evidence/cluster_autoscaling.md",
        "https://example.com/platform/docs/capacity-planning",
    ]
    files = _files(out)
    assert sorted(files) == sorted(["PRODUCT.yaml", *(f"evidence/{r.id}.md" for r in requirements_for(VERSION))])
    gpu = files["evidence/gpu_sharing.md"].decode()
    assert "| Cluster | Kubernetes v1.37." in gpu and "| Checklist | v1.36 |" in gpu
    assert "```yaml" in gpu and "kind: ResourceSlice" in gpu and "kind: Node" in gpu

    # Nothing sensitive: the planted Secret and env value, the kubeconfig's credentials.
    kubeconfig = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    creds = [
        str(v)
        for section in ("users", "clusters")
        for entry in kubeconfig.get(section) or []
        for k, v in (entry.get("user") or entry.get("cluster") or {}).items()
        if k.endswith("-data") or k in ("token", "password")
    ]
    text = b"".join(files.values()).decode()
    for secret in [PLANTED, *(c[:40] for c in creds)]:
        assert secret not in text

    # Never overwritten without --force; with it, the same cluster gives the same files, timestamps aside.
    again = aiconform(*base, "--allow-unmet")
    assert again.returncode == 2 and "pass --force" in again.stderr
    assert _files(out) == files
    forced = aiconform(*base, "--allow-unmet", "--force")
    assert forced.returncode == 0, forced.stderr

    def untimed(fs: dict[str, bytes]) -> dict[str, str]:
        return {p: re.sub(r"\| Evaluated at \| [^|]+\|", "", d.decode()) for p, d in fs.items()}

    assert untimed(_files(out)) == untimed(files)
