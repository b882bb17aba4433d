"""e2e: `aiconform check` and `export` as a user runs them, against the real dev cluster.

The bare dev cluster is not conformant (no Gateway API implementation, no gang scheduler), so `check` exits 1.
It runs Kubernetes v1.37, newer than the newest checklist, so `auto` resolves to v1.36.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AICONFORM, Cluster

from aiconform.conformance.catalog import requirements_for

pytestmark = pytest.mark.e2e

METADATA_FLAGS = [
    "--platform-name",
    "Dev Cluster",
    "--platform-version",
    "0.1",
    "--vendor-name",
    "Example Corp",
    "--website-url",
    "https://example.com",
    "--documentation-url",
    "https://example.com/docs",
    "--product-logo-url",
    "https://example.com/logo.svg",
    "--description",
    "Local simulated GPU cluster <test & check>",
    "--contact-email-address",
    "dev@example.com",
]


def aiconform(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AICONFORM, *args], capture_output=True, text=True, timeout=timeout, check=False, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)  # every call names its kubeconfig
    return env


def _check_json(cluster: Cluster, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = aiconform("check", "--kubeconfig", cluster.kubeconfig, "-o", "json", *extra)
    assert out.returncode in (0, 1), out.stderr
    return out, json.loads(out.stdout)


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["requirements"]}


def test_check_json_auto_resolves_newest_checklist(cluster: Cluster) -> None:
    out, doc = _check_json(cluster, "--no-scrape")
    assert out.returncode == 1, "the bare dev cluster is not conformant"
    assert doc["version"] == "v1.36"
    assert doc["serverVersion"].startswith("v1.37.")
    assert "newer than the newest known checklist" in out.stderr
    assert [r["id"] for r in doc["requirements"]] == [r.id for r in requirements_for("v1.36")]
    assert "dra_support" not in _by_id(doc)
    assert doc["conformant"] is False
    assert doc["counts"]["must"]["total"] == 8
    assert doc["counts"]["must"]["met"] < 8
    gateway = _by_id(doc)["ai_inference"]
    assert gateway["status"] != "Implemented", gateway
    for r in doc["requirements"]:
        assert r["status"] in ("Implemented", "Partially Implemented", "Not Implemented", "N/A")
        assert r["reason"] and r["message"]


def test_check_v135_has_dra_support_consistent_with_cluster(cluster: Cluster) -> None:
    out, doc = _check_json(cluster, "--kubernetes-version", "v1.35", "--no-scrape")
    assert doc["version"] == "v1.35"
    assert out.returncode == 1
    dra = _by_id(doc)["dra_support"]
    assert dra["level"] == "MUST"
    slices = cluster.get_json("resourceslices")["items"]
    classes = cluster.get_json("deviceclasses")["items"]
    gpu_nodes = {
        n["metadata"]["name"]
        for n in cluster.get_json("nodes")["items"]
        if n["metadata"].get("labels", {}).get("nvidia.com/gpu.present") == "true"
    }
    assert gpu_nodes <= {s["spec"].get("nodeName") for s in slices}, "the dev cluster publishes a slice per GPU node"
    if not classes:
        assert dra["status"] == "Not Implemented", dra
        assert "DeviceClass" in dra["message"], dra
    else:
        # slices and classes are API presence; Implemented needs a probe allocating a claim
        assert (dra["status"], dra["reason"]) == ("Partially Implemented", "PresenceOnly"), dra


def test_check_junit(cluster: Cluster) -> None:
    out = aiconform("check", "--kubeconfig", cluster.kubeconfig, "-o", "junit", "--no-scrape")
    assert out.returncode == 1, out.stderr
    root = ET.fromstring(out.stdout)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "ai-conformance-v1.36"
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests") or -1) == 14
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == int(suite.get("failures") or -1) >= 1
    assert all(c.get("name", "").endswith("[MUST]") for c in failures)  # SHOULDs fail only with --fail-on should
    names = {c.get("name") for c in failures}
    assert "ai_inference [MUST]" in names


def test_check_table_piped_is_plain(cluster: Cluster) -> None:
    out = aiconform("check", "--kubeconfig", cluster.kubeconfig, "--no-scrape")
    assert out.returncode == 1, out.stderr
    assert "\x1b[" not in out.stdout
    assert "Conformant: no — MUST " in out.stdout and "(checklist v1.36)" in out.stdout


def test_unreachable_api_server_exits_2_with_one_line(cluster: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    out = aiconform("check", "--kubeconfig", str(broken), "-o", "json", timeout=60)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "127.0.0.1:1" in lines[0] and "cannot reach" in lines[0]


def test_export_writes_product_yaml_and_never_overwrites(cluster: Cluster, tmp_path: Path) -> None:
    target = tmp_path / "v1.35" / "dev" / "PRODUCT.yaml"
    target.parent.mkdir(parents=True)
    conformance_url = "https://github.com/cncf/k8s-conformance/tree/main/v1.35/dev"
    base = ["export", "--kubeconfig", cluster.kubeconfig, "--kubernetes-version", "v1.35", "--no-scrape"]
    out = aiconform(*base, *METADATA_FLAGS, "--k8s-conformance-url", conformance_url, "-o", str(target))
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(target.read_text())
    assert list(doc["metadata"]) == [
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
        "k8sConformanceUrl",
    ]
    assert doc["metadata"]["kubernetesVersion"] == "v1.35"
    assert doc["metadata"]["description"] == "Local simulated GPU cluster <test & check>"
    ids = [item["id"] for items in doc["spec"].values() for item in items]
    assert ids == [r.id for r in requirements_for("v1.35")]
    assert "validate.go accepts only Implemented on a MUST" in out.stderr

    before = target.read_text()
    again = aiconform(*base, *METADATA_FLAGS, "--k8s-conformance-url", conformance_url, "-o", str(target))
    assert again.returncode == 2
    assert "--force" in again.stderr
    assert target.read_text() == before
    flags = [*METADATA_FLAGS, "--k8s-conformance-url", conformance_url, "--platform-version", "0.2"]
    forced = aiconform(*base, *flags, "-o", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load(target.read_text())["metadata"]["platformVersion"] == "0.2"


def test_export_missing_metadata_after_version_resolution(cluster: Cluster, tmp_path: Path) -> None:
    # auto → v1.36 needs no k8sConformanceUrl; an explicit v1.35 does, and each missing field is one line.
    out = aiconform("export", "--kubeconfig", cluster.kubeconfig, "--kubernetes-version", "v1.35", "--no-scrape")
    assert out.returncode == 2
    for flag in ("--platform-name", "--vendor-name", "--description", "--k8s-conformance-url"):
        assert sum(flag in line for line in out.stderr.splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    ok = aiconform("export", "--kubeconfig", cluster.kubeconfig, "--no-scrape", *METADATA_FLAGS)
    assert ok.returncode == 0, ok.stderr
    doc = yaml.safe_load(ok.stdout)
    assert doc["metadata"]["kubernetesVersion"] == "v1.36"
    assert "k8sConformanceUrl" not in doc["metadata"]
    assert "requires k8sConformanceUrl" in ok.stderr


# ---------------------------------------------------------------------------------------------------------------
# Scraping a DCGM exporter: a fake exporter pod on a simulated GPU node, served by this process on its loopback
# pod IP (the dev cluster hands out 127.8.0.0/16), so the scrape never leaves 127.0.0.0/8.

DCGM_TEXT = (
    "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n"
    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-e2e-0",Hostname="kwok-h100-0000"} 37\n'
    "# TYPE DCGM_FI_DEV_FB_USED gauge\n"
    'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-e2e-0",Hostname="kwok-h100-0000"} 1024\n'
    "go_goroutines 7\n"
)


class _Exporter(http.server.BaseHTTPRequestHandler):
    """Serves DCGM_TEXT and records who asked: the operator may be scraping the same cluster meanwhile."""

    agents: list[str] = []

    def do_GET(self) -> None:
        type(self).agents.append(self.headers.get("User-Agent", ""))
        body = DCGM_TEXT.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake_exporter(cluster: Cluster) -> Iterator[str]:
    ns = f"aiconform-e2e-check-{uuid.uuid4().hex[:6]}"
    _Exporter.agents.clear()
    port = _free_loopback_port()
    gpu_node = next(
        n["metadata"]["name"]
        for n in cluster.get_json("nodes")["items"]
        if n["metadata"].get("labels", {}).get("nvidia.com/gpu.present") == "true"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dcgm-exporter", "namespace": ns, "labels": {"app.kubernetes.io/name": "dcgm-exporter"}},
        "spec": {
            "nodeName": gpu_node,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "exporter",
                    "image": "nvidia/dcgm-exporter:e2e",
                    "ports": [{"name": "metrics", "containerPort": port}],
                }
            ],
        },
    }
    cluster.kubectl("create", "namespace", ns)
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

        def pod_ip() -> str | None:
            status = cluster.get_json("pod", "-n", ns, "dcgm-exporter").get("status", {})
            ip = status.get("podIP")
            return str(ip) if status.get("phase") == "Running" and ip else None

        ip = str(cluster.wait_for("fake exporter pod Running with an IP", pod_ip, timeout=60))
        assert ip.startswith("127."), f"pod IP {ip} is not loopback; refusing to serve on it"
        server = http.server.HTTPServer((ip, port), _Exporter)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{ip}:{port}"
        finally:
            server.shutdown()
            server.server_close()
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_collect_scrapes_dcgm_exporter(cluster: Cluster, fake_exporter: str) -> None:
    import asyncio

    from aiconform.kube.client import KubeClient, load_credentials
    from aiconform.kube.collect import collect

    agent = f"aiconform-e2e-{uuid.uuid4().hex[:8]}"

    async def snapshot_scrapes() -> Any:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            scraped = await collect(kube, user_agent=agent)
            unscraped = await collect(kube, scrape=False, user_agent=agent)
            return scraped.scrapes, unscraped.scrapes

    scrapes, unscraped = asyncio.run(snapshot_scrapes())
    assert unscraped == ()
    mine = [s for s in scrapes if s.target == f"{fake_exporter}/metrics"]
    assert len(mine) == 1, scrapes
    assert mine[0].ok, mine[0].error
    assert mine[0].node and mine[0].node.startswith("kwok-")
    assert {s.name for s in mine[0].samples} == {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"}
    assert _Exporter.agents.count(agent) == 1  # one scrape, no retries, none with scrape=False

    # The CLI scrapes as aiconform-check/<version>, and not at all with --no-scrape. Direct: outside the cluster
    # the default goes through the API server's pod proxy (tests/e2e/test_scrape_proxy_e2e.py).
    def cli_hits() -> int:
        return sum(a.startswith("aiconform-check/") for a in _Exporter.agents)

    out, _ = _check_json(cluster, "--scrape", "direct")
    assert cli_hits() == 1, out.stderr
    out, _ = _check_json(cluster, "--scrape", "direct", "--no-scrape")
    assert cli_hits() == 1, out.stderr
