"""`aiconform check` / `export`: exit-code logic, argument and input errors (exit 2, one line), file safety,
and the collector's pure parts (DCGM target discovery and parsing)."""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiconform.checker import commands
from aiconform.checker.commands import (
    EXIT_FAILED,
    EXIT_OK,
    credentials,
    exit_code,
    load_metadata,
    load_profile,
    merge_metadata,
    use_colour,
)
from aiconform.checker.report import is_met
from aiconform.cli import main
from aiconform.conformance.catalog import requirements_for
from aiconform.conformance.verdict import Verdict, VerdictStatus
from aiconform.errors import CliError
from aiconform.kube.client import KubeApiError, KubeTransportError
from aiconform.kube.collect import CollectError, collect, dcgm_targets, parse_dcgm_metrics
from aiconform.kube.snapshot import Snapshot


@dataclass(frozen=True)
class FakeEvaluation:
    version: str
    verdicts: tuple[Verdict, ...]
    must_met: int
    must_total: int
    should_met: int
    should_total: int
    conformant: bool


def make_eval(version: str, statuses: dict[str, VerdictStatus]) -> FakeEvaluation:
    reqs = requirements_for(version)
    verdicts = tuple(Verdict(r.id, statuses.get(r.id, "Implemented"), "R", "m") for r in reqs)
    level = {r.id: r.level for r in reqs}
    must = [v for v in verdicts if level[v.requirement] == "MUST"]
    should = [v for v in verdicts if level[v.requirement] == "SHOULD"]
    return FakeEvaluation(
        version,
        verdicts,
        sum(map(is_met, must)),
        len(must),
        sum(map(is_met, should)),
        len(should),
        all(map(is_met, must)),
    )


# ---------------------------------------------------------------------------------------------------------------
# Exit codes


@pytest.mark.parametrize(
    ("statuses", "fail_on", "code"),
    [
        ({}, "must", EXIT_OK),
        ({}, "should", EXIT_OK),
        ({"ai_inference": "Not Implemented"}, "must", EXIT_FAILED),
        ({"ai_inference": "Partially Implemented"}, "must", EXIT_FAILED),
        ({"cluster_autoscaling": "N/A"}, "must", EXIT_OK),
        ({"gpu_sharing": "Not Implemented"}, "must", EXIT_OK),
        ({"gpu_sharing": "Not Implemented"}, "should", EXIT_FAILED),
        ({"gpu_sharing": "Partially Implemented"}, "should", EXIT_FAILED),
        ({"virtualized_accelerator": "N/A"}, "should", EXIT_OK),
    ],
)
def test_exit_code(statuses: dict[str, VerdictStatus], fail_on: str, code: int) -> None:
    assert exit_code(make_eval("v1.36", statuses), fail_on) == code


def test_exit_code_follows_evaluation_conformant() -> None:
    # evaluate() decides conformance (e.g. which N/A on a MUST it accepts); exit_code does not second-guess it.
    ev = make_eval("v1.36", {})
    assert exit_code(FakeEvaluation(**{**ev.__dict__, "conformant": False}), "must") == EXIT_FAILED


def test_exit_code_is_a_tool_error_when_a_must_could_not_be_read() -> None:
    from aiconform.checker.commands import EXIT_CANNOT_RUN
    from aiconform.conformance.verdict import Verdict

    ev = make_eval("v1.36", {})
    unread = Verdict("gang_scheduling", "Not Implemented", "Unreadable", "cannot tell: clusterqueues: HTTP 403")
    verdicts = tuple(unread if v.requirement == "gang_scheduling" else v for v in ev.verdicts)
    assert exit_code(FakeEvaluation(**{**ev.__dict__, "verdicts": verdicts}), "must") == EXIT_CANNOT_RUN


def test_exit_code_rejects_unknown_fail_on() -> None:
    with pytest.raises(ValueError):
        exit_code(make_eval("v1.36", {}), "may")


# ---------------------------------------------------------------------------------------------------------------
# Argument and input errors: exit 2, one line, no traceback


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aiconform: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--kubernetes-version", "1.35"],
        ["check", "--kubernetes-version", "v2.0"],
        ["check", "-o", "xml"],
        ["check", "--fail-on", "may"],
        ["export", "--no-such-flag"],
    ],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_unknown_checklist_version_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Decided before the cluster is contacted: the kubeconfig does not even exist.
    line = _one_line_error(
        capsys, main(["check", "--kubeconfig", str(tmp_path / "none"), "--kubernetes-version", "v1.99"])
    )
    assert "v1.99" in line and "v1.36" in line


def test_missing_kubeconfig_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_error(capsys, main(["check", "--kubeconfig", str(tmp_path / "none")]))
    assert "does not exist" in line


def test_bad_profile_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"spec": {"components": {"keda": {"minReplicas": 5, "maxReplicas": 2}}}}))
    line = _one_line_error(capsys, main(["check", "--profile", str(profile), "--kubeconfig", str(tmp_path / "x")]))
    assert str(profile) in line and "minReplicas" in line


def test_profile_not_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("spec: [unclosed\n")
    line = _one_line_error(capsys, main(["check", "--profile", str(profile)]))
    assert "not valid YAML" in line


def test_load_profile_accepts_manifest_or_bare_spec(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "aiconform.io/v1alpha1",
                "kind": "ConformanceProfile",
                "metadata": {"name": "p"},
                "spec": {"kubernetesVersion": "v1.35", "mode": "Audit"},
            }
        )
    )
    bare = tmp_path / "s.yaml"
    bare.write_text(yaml.safe_dump({"kubernetesVersion": "v1.35", "mode": "Audit"}))
    assert load_profile(manifest) == load_profile(bare)
    assert load_profile(bare).kubernetes_version == "v1.35"
    unknown = tmp_path / "u.yaml"
    unknown.write_text(yaml.safe_dump({"spec": {"kubernetesVersion": "v1.35", "colour": "blue"}}))
    with pytest.raises(CliError, match=r"spec\.colour"):
        load_profile(unknown)


# ---------------------------------------------------------------------------------------------------------------
# Export: metadata and file safety (checked before the cluster is contacted)


def test_export_missing_metadata_one_line_per_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "export",
            "--kubeconfig",
            str(tmp_path / "none"),
            "--kubernetes-version",
            "v1.35",
            "--platform-name",
            "P",
            "--vendor-name",
            "V",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for flag in (
        "--platform-version",
        "--website-url",
        "--documentation-url",
        "--product-logo-url",
        "--description",
        "--contact-email-address",
        "--k8s-conformance-url",
    ):
        assert sum(1 for line in err.splitlines() if flag in line) == 1, (flag, err)
    assert "--platform-name" not in err and "--repo-url" not in err


def _full_metadata_file(tmp_path: Path) -> Path:
    meta = tmp_path / "meta.yaml"
    meta.write_text(
        yaml.safe_dump(
            {
                "metadata": {
                    "platform_name": "P",
                    "platformVersion": 1.2,
                    "vendorName": "V",
                    "websiteUrl": "https://example.com",
                    "documentationUrl": "https://example.com/docs",
                    "productLogoUrl": "https://example.com/logo.svg",
                    "description": "d",
                    "contactEmailAddress": "a@example.com",
                }
            }
        )
    )
    return meta


def test_export_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "PRODUCT.yaml"
    out.write_text("precious\n")
    argv = ["export", "--kubeconfig", str(tmp_path / "none"), "--metadata", str(_full_metadata_file(tmp_path))]
    line = _one_line_error(capsys, main([*argv, "-o", str(out)]))
    assert "--force" in line
    assert out.read_text() == "precious\n"


def test_load_and_merge_metadata(tmp_path: Path) -> None:
    meta = load_metadata(_full_metadata_file(tmp_path))
    assert meta["platformName"] == "P" and meta["platformVersion"] == "1.2"
    merged = merge_metadata(meta, {"platformName": "Q", "vendorName": "", "repoUrl": None})
    assert merged["platformName"] == "Q"
    assert "vendorName" not in merged and "repoUrl" not in merged


def test_metadata_file_unknown_key(tmp_path: Path) -> None:
    meta = tmp_path / "m.yaml"
    meta.write_text("platfromName: typo\n")
    with pytest.raises(CliError, match="platfromName"):
        load_metadata(meta)


def test_write_new_never_clobbers(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    commands._write_new(path, "one\n", force=False)
    with pytest.raises(CliError, match="--force"):
        commands._write_new(path, "two\n", force=False)
    assert path.read_text() == "one\n"
    commands._write_new(path, "three\n", force=True)
    assert path.read_text() == "three\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


# ---------------------------------------------------------------------------------------------------------------
# Colour and credentials


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_use_colour() -> None:
    assert use_colour(_Stream(True), {}) is True
    assert use_colour(_Stream(False), {}) is False
    assert use_colour(_Stream(True), {"NO_COLOR": "1"}) is False
    assert use_colour(_Stream(True), {"NO_COLOR": ""}) is True  # no-color.org: only a non-empty value counts


def test_credentials_inline_data_in_private_temp_files(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [
                    {
                        "name": "k",
                        "cluster": {
                            "server": "https://127.0.0.1:1",
                            "certificate-authority-data": base64.b64encode(b"CA").decode(),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t0k"}}],
            }
        )
    )
    with credentials(str(kubeconfig)) as creds:
        assert creds.server == "https://127.0.0.1:1" and creds.token == "t0k"
        assert creds.ca_file is not None
        ca = Path(creds.ca_file)
        assert ca.read_bytes() == b"CA"
        assert (ca.stat().st_mode & 0o777) == 0o600
    assert not ca.exists()


def test_credentials_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(commands, "SERVICE_ACCOUNT_DIR", tmp_path)
    with pytest.raises(CliError, match="--kubeconfig"), credentials(None):
        pass


# ---------------------------------------------------------------------------------------------------------------
# Collector: which pods are scraped, what is kept


def _pod(name: str, ip: str | None, phase: str = "Running", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "gpu", **meta},
        "spec": {"nodeName": f"node-{name}", "containers": [{"name": "c"}]},
        "status": {"phase": phase, "podIP": ip},
    }


def test_dcgm_targets() -> None:
    named = _pod("a", "127.8.0.5", labels={"app.kubernetes.io/name": "dcgm-exporter"})
    named["spec"]["containers"][0]["ports"] = [{"name": "metrics", "containerPort": 9500}]
    pods = [
        named,
        _pod("b", "127.8.0.6", labels={"app": "nvidia-dcgm-exporter"}),
        _pod("c", "fd00::7", ownerReferences=[{"kind": "DaemonSet", "name": "gpu-operator-dcgm-exporter"}]),
        _pod("d", "127.8.0.8", phase="Pending", labels={"app": "nvidia-dcgm-exporter"}),
        _pod("e", None, labels={"app": "nvidia-dcgm-exporter"}),
        _pod("f", "127.8.0.9", labels={"app": "something-else"}),
        _pod("g", "127.8.0.10", ownerReferences=[{"kind": "ReplicaSet", "name": "dcgm-exporter-x"}]),
    ]
    assert [(t.url, t.target, t.node, t.proxy_path) for t in dcgm_targets(pods)] == [
        (
            "http://127.8.0.5:9500/metrics",
            "127.8.0.5:9500/metrics",
            "node-a",
            "/api/v1/namespaces/gpu/pods/a:9500/proxy/metrics",
        ),
        (
            "http://127.8.0.6:9400/metrics",
            "127.8.0.6:9400/metrics",
            "node-b",
            "/api/v1/namespaces/gpu/pods/b:9400/proxy/metrics",
        ),
        (
            "http://[fd00::7]:9400/metrics",
            "[fd00::7]:9400/metrics",
            "node-c",
            "/api/v1/namespaces/gpu/pods/c:9400/proxy/metrics",
        ),
    ]


def test_parse_dcgm_metrics_keeps_only_dcgm() -> None:
    text = (
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n"
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1",Hostname="n1"} 42\n'
        "# TYPE DCGM_FI_DEV_XID_ERRORS counter\n"
        'DCGM_FI_DEV_XID_ERRORS_total{gpu="0"} 3\n'
        "go_goroutines 12\n"
    )
    samples = parse_dcgm_metrics(text)
    assert [(s.name, s.value) for s in samples] == [
        ("DCGM_FI_DEV_GPU_UTIL", 42.0),
        ("DCGM_FI_DEV_XID_ERRORS_total", 3.0),
    ]
    assert samples[0].labels["UUID"] == "GPU-1"
    with pytest.raises(ValueError):
        parse_dcgm_metrics("DCGM_FI_DEV_GPU_UTIL{gpu=0 notanumber\n")


class FakeKube:
    """Enough of KubeClient for collect(): canned discovery and collections, errors by path."""

    def __init__(self, errors: dict[str, Exception] | None = None) -> None:
        self.errors = errors or {}
        self.paths: list[str] = []
        crd_ok = {
            "metadata": {"name": "clusterqueues.kueue.x-k8s.io"},
            "spec": {
                "versions": [{"name": "v1beta1", "served": True}, {"name": "v1beta2", "served": True, "storage": True}]
            },
            "status": {"conditions": [{"type": "Established", "status": "True"}]},
        }
        crd_pending = {
            "metadata": {"name": "gateways.gateway.networking.k8s.io"},
            "spec": {"versions": [{"name": "v1", "served": True, "storage": True}]},
            "status": {"conditions": [{"type": "Established", "status": "False"}]},
        }
        self.docs: dict[str, Any] = {
            "/version": {"gitVersion": "v1.36.2"},
            "/api/v1": {"resources": [{"name": "pods"}, {"name": "pods/log"}, {"name": "nodes"}]},
            "/apis": {
                "groups": [
                    {"versions": [{"groupVersion": "apps/v1"}]},
                    {"versions": [{"groupVersion": "autoscaling/v2"}]},
                    {"versions": [{"groupVersion": "apiextensions.k8s.io/v1"}]},
                    {"versions": [{"groupVersion": "metrics.k8s.io/v1beta1"}]},
                ]
            },
            "/apis/apps/v1": {"resources": [{"name": "deployments"}, {"name": "daemonsets"}]},
            "/apis/autoscaling/v2": {"resources": [{"name": "horizontalpodautoscalers"}]},
            "/apis/apiextensions.k8s.io/v1": {"resources": [{"name": "customresourcedefinitions"}]},
        }
        self.lists: dict[str, list[dict[str, Any]]] = {
            "/api/v1/nodes": [{"metadata": {"name": "n1"}}],
            "/api/v1/pods": [],
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions": [crd_ok, crd_pending],
            "/apis/kueue.x-k8s.io/v1beta2/clusterqueues": [{"metadata": {"name": "gpu"}}],
            "/apis/autoscaling/v2/horizontalpodautoscalers": [{"metadata": {"name": "h"}}],
        }

    def _maybe_fail(self, path: str) -> None:
        self.paths.append(path)
        if path in self.errors:
            raise self.errors[path]

    async def version(self) -> dict[str, Any]:
        self._maybe_fail("/version")
        return dict(self.docs["/version"])

    async def get(self, path: str) -> dict[str, Any] | None:
        self._maybe_fail(path)
        doc = self.docs.get(path)
        return dict(doc) if doc is not None else None

    async def list(self, path: str) -> list[dict[str, Any]]:
        self._maybe_fail(path)
        return list(self.lists.get(path, []))


def _collect(kube: FakeKube) -> Snapshot:
    return asyncio.run(collect(kube, scrape=False))  # type: ignore[arg-type]


def test_collect_discovery_lists_and_custom_resources() -> None:
    kube = FakeKube(errors={"/apis/metrics.k8s.io/v1beta1": KubeApiError(503, "service unavailable")})
    snap = _collect(kube)
    assert snap.server_version == "v1.36.2"
    assert "v1/pods" in snap.api_resources and "v1/pods/log" not in snap.api_resources
    assert snap.served("apps/v1", "deployments")
    assert not any(r.startswith("metrics.k8s.io") for r in snap.api_resources)
    assert [n["metadata"]["name"] for n in snap.nodes] == ["n1"]
    assert len(snap.hpas) == 1
    # Established CRD listed at its storage version; a not-Established one is absent, not empty.
    assert snap.objects("clusterqueues.kueue.x-k8s.io")[0]["metadata"]["name"] == "gpu"
    assert "gateways.gateway.networking.k8s.io" not in snap.custom
    # Not served → never asked for.
    assert "/apis/resource.k8s.io/v1/resourceslices" not in kube.paths
    assert snap.resource_slices == ()


def test_collect_optional_forbidden_is_empty_core_forbidden_fails() -> None:
    hpas = "/apis/autoscaling/v2/horizontalpodautoscalers"
    assert _collect(FakeKube(errors={hpas: KubeApiError(403, "forbidden")})).hpas == ()
    with pytest.raises(CollectError, match=r"forbidden to read v1/nodes \(HTTP 403\)"):
        _collect(FakeKube(errors={"/api/v1/nodes": KubeApiError(403, "forbidden")}))
    with pytest.raises(CollectError, match="rejected the credentials"):
        _collect(FakeKube(errors={"/version": KubeApiError(401, "Unauthorized")}))


def test_collect_unreachable_is_collect_error() -> None:
    with pytest.raises(CollectError, match="cannot reach the Kubernetes API server"):
        _collect(FakeKube(errors={"/version": KubeTransportError("GET /version: connection refused")}))
