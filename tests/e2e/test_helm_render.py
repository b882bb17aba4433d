"""The Helm chart rendered by a real Helm (built from Go modules, see aiconform.devtools.devcluster.tools), linted, and
its objects judged by the dev cluster's API server; the ClusterRole checked against what the operator watches
and exercised with a real ServiceAccount token."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, Cluster, token_kubeconfig

from aiconform.api.constants import CRD_NAME
from aiconform.kube import sources
from aiconform.kube.kinds import MANAGED_KINDS as KINDS

pytestmark = pytest.mark.e2e

CHART = ROOT / "deploy" / "helm" / "aiconform"
COMMITTED_CRD = ROOT / "crds" / f"{CRD_NAME}.yaml"
NAMESPACE = "aiconform-helm-e2e"
OPTIONS = ("serviceMonitor.enabled=true", "exampleProfile.enabled=true", "exampleProfile.name=helm-e2e-example")
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
READ = {"get", "list", "watch"}


@pytest.fixture(scope="module")
def helm() -> Path:
    from aiconform.devtools.devcluster.tools import ensure_helm

    return ensure_helm()


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {out.stderr.strip()}")
    return out


def render(helm: Path, *sets: str, release: str = "aiconform", namespace: str = NAMESPACE) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for item in sets:
        args += ["--set", item]
    return run_helm(helm, *args).stdout


def objects(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def by_kind(manifest: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for obj in objects(manifest):
        assert obj["kind"] not in out, f"two {obj['kind']} objects"
        out[obj["kind"]] = obj
    return out


# --- helm alone ---------------------------------------------------------------------------------------------


def test_helm_is_the_pinned_build(helm: Path) -> None:
    from aiconform.devtools.devcluster.tools import HELM

    assert run_helm(helm, "version", "--short").stdout.startswith(f"v{HELM}")


@pytest.mark.parametrize("sets", [(), OPTIONS, ("installCRDs=false", "rbac.create=false", "serviceAccount.name=x")])
def test_lint(helm: Path, sets: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for item in sets:
        args += ["--set", item]
    out = run_helm(helm, *args)
    assert "0 chart(s) failed" in out.stdout


def test_default_objects(helm: Path) -> None:
    kinds = sorted(o["kind"] for o in objects(render(helm)))
    assert kinds == sorted(
        ["ServiceAccount", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"]
    )


def test_optional_objects(helm: Path) -> None:
    objs = by_kind(render(helm, *OPTIONS))
    assert {"ServiceMonitor", "ConformanceProfile"} <= set(objs)
    monitor = objs["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == objs["Service"]["spec"]["selector"]
    profile = objs["ConformanceProfile"]
    assert profile["apiVersion"] == "aiconform.io/v1alpha1" and "namespace" not in profile["metadata"]
    assert profile["spec"] == {"kubernetesVersion": "auto", "mode": "Audit"}
    assert set(profile["metadata"]) == {"name", "labels"}


def test_rendering_is_deterministic(helm: Path) -> None:
    assert render(helm) == render(helm)
    assert render(helm, *OPTIONS) == render(helm, *OPTIONS)


def test_crd_is_the_committed_one(helm: Path) -> None:
    crd = by_kind(render(helm))["CustomResourceDefinition"]
    committed = yaml.safe_load(COMMITTED_CRD.read_text())
    assert crd["metadata"]["name"] == committed["metadata"]["name"]
    assert crd["spec"] == committed["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_crd_switches(helm: Path) -> None:
    assert "CustomResourceDefinition" not in by_kind(render(helm, "installCRDs=false"))
    crd = by_kind(render(helm, "keepCRDs=false"))["CustomResourceDefinition"]
    assert "annotations" not in crd["metadata"]


def test_deployment(helm: Path) -> None:
    objs = by_kind(render(helm))
    dep = objs["Deployment"]
    spec = dep["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == objs["ServiceAccount"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/aiconform/aiconform:0.1.0"
    assert [*container["command"], *container["args"]] == [
        "aiconform",
        "run",
        "--bind-address",
        "0.0.0.0",
        "--liveness-port",
        "8080",
        "--metrics-port",
        "9090",
        "--log-format",
        "json",
    ]
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8080 and ports["metrics"] == 9090
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"]["limits"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    [mount] = container["volumeMounts"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert mount["mountPath"] == "/tmp" and "emptyDir" in volume
    service = objs["Service"]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_digest_and_flags(helm: Path) -> None:
    digest = "sha256:" + "a" * 64
    dep = by_kind(render(helm, f"image.digest={digest}", "operator.verbose=true", "operator.logFormat=plain"))
    container = dep["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/aiconform/aiconform@{digest}"
    assert container["args"][-3:] == ["--log-format", "plain", "--verbose"]


def test_standard_labels_everywhere(helm: Path) -> None:
    for obj in objects(render(helm, *OPTIONS)):
        labels = obj["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert key in labels, f"{obj['kind']} lacks {key}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert not any(k.startswith("argocd.argoproj.io") for k in labels)


@pytest.mark.parametrize(
    ("item", "complaint"),
    [
        ("installCRD=true", "installCRD"),
        ("operator.logFormat=xml", "logFormat"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("operator.metricsPort=70000", "metricsPort"),
    ],
)
def test_schema_rejects_bad_values(helm: Path, item: str, complaint: str) -> None:
    out = run_helm(helm, "template", "x", str(CHART), "--set", item, check=False)
    assert out.returncode != 0 and complaint in out.stderr


def test_existing_service_account_needs_a_name(helm: Path) -> None:
    out = run_helm(helm, "template", "x", str(CHART), "--set", "serviceAccount.create=false", check=False)
    assert out.returncode != 0 and "serviceAccount.name is required" in out.stderr


# --- the ClusterRole ----------------------------------------------------------------------------------------


def rules_of(helm: Path) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = by_kind(render(helm))["ClusterRole"]["rules"]
    return rules


def test_cluster_role_has_no_wildcards_nor_dangerous_verbs(helm: Path) -> None:
    rules = rules_of(helm)
    assert "*" not in json.dumps(rules)
    for rule in rules:
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule


def test_cluster_role_covers_every_watched_resource(helm: Path) -> None:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules_of(helm):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    missing = [w.key for w in sources.SOURCES if not granted.get((w.group, w.plural), set()) >= READ]
    assert not missing, f"the operator watches these without get/list/watch: {missing}"
    assert granted[("aiconform.io", "conformanceprofiles")] == {"get", "list", "watch", "patch"}
    assert granted[("aiconform.io", "conformanceprofiles/status")] == {"get", "patch", "update"}
    assert granted[("", "events")] == {"create", "patch"}
    assert granted[("events.k8s.io", "events")] == {"create", "patch"}


# --- the API server's verdict -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> Iterator[str]:
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    try:
        yield NAMESPACE
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def servicemonitor_crd(cluster: Cluster) -> None:
    from aiconform.devtools.devcluster import upstream
    from aiconform.kube.client import KubeClient, load_credentials

    async def install() -> None:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            await upstream.install(kube, ["servicemonitor"])

    asyncio.run(install())


@pytest.mark.parametrize("sets", [(), OPTIONS], ids=["defaults", "monitor-and-profile"])
def test_api_server_accepts_every_object(
    cluster: Cluster, crd: str, namespace: str, servicemonitor_crd: None, helm: Path, sets: tuple[str, ...]
) -> None:
    manifest = render(helm, *sets, namespace=namespace)
    out = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=aiconform-helm-e2e",
        "-f",
        "-",
        input=manifest,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    applied = [line for line in out.stdout.splitlines() if "serverside-applied (server dry run)" in line]
    assert len(applied) == len(objects(manifest)), out.stdout


# --- the ClusterRole, in force ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart_kubeconfig(
    cluster: Cluster, namespace: str, helm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The chart's ServiceAccount, ClusterRole and ClusterRoleBinding created for real (under a release name of
    their own), and a kubeconfig holding a token of that ServiceAccount."""
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    rbac = [
        o
        for o in objects(render(helm, release=release, namespace=namespace))
        if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    manifest = yaml.safe_dump_all(rbac)
    cluster.kubectl("apply", "--server-side", "--field-manager=aiconform-helm-e2e", "-f", "-", input=manifest)
    try:
        sa = next(o for o in rbac if o["kind"] == "ServiceAccount")["metadata"]["name"]
        token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration=10m").stdout.strip()
        yield token_kubeconfig(cluster, token, tmp_path_factory.mktemp("rbac") / "kubeconfig")
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=manifest, check=False)


Ask = tuple[str, str, str, str, str]  # verb, group, resource, subresource, namespace


def allowed(cluster: Cluster, kubeconfig: Path, asks: list[Ask]) -> dict[Ask, bool]:
    """SelfSubjectAccessReviews made with the token, all in one kubectl call: exact group and resource, no name
    guessing by kubectl (which cannot map the resources of CRDs that are not installed)."""
    reviews = [
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": dict(
                    zip(("verb", "group", "resource", "subresource", "namespace"), ask, strict=True)
                )
            },
        }
        for ask in asks
    ]
    cmd = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "create", "-o", "json", "-f", "-"]
    out = subprocess.run(
        cmd, input=yaml.safe_dump_all(reviews), capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    # kubectl prints one JSON document per created object, one after the other.
    decoder, items, pos = json.JSONDecoder(), [], 0
    text = out.stdout.strip()
    while pos < len(text):
        item, pos = decoder.raw_decode(text, pos)
        items.append(item)
        pos += len(text[pos:]) - len(text[pos:].lstrip())
    assert len(items) == len(asks)
    return {ask: bool(item["status"].get("allowed")) for ask, item in zip(asks, items, strict=True)}


def test_service_account_can_do_what_the_operator_does(cluster: Cluster, chart_kubeconfig: Path) -> None:
    wanted: list[Ask] = [(verb, w.group, w.plural, "", "") for w in sources.SOURCES for verb in sorted(READ)]
    wanted += [(verb, "aiconform.io", "conformanceprofiles", "", "") for verb in ("get", "list", "watch", "patch")]
    wanted += [(verb, "aiconform.io", "conformanceprofiles", "status", "") for verb in ("get", "patch", "update")]
    wanted += [
        (verb, group, "events", "", "default") for group in ("", "events.k8s.io") for verb in ("create", "patch")
    ]
    wanted += [
        (verb, k.api_version.rpartition("/")[0], k.plural, "", "")
        for k in KINDS
        if k.plural not in ("clusterroles", "clusterrolebindings")
        for verb in ("create", "patch", "delete")
    ]
    denied = [ask for ask, ok in allowed(cluster, chart_kubeconfig, wanted).items() if not ok]
    assert not denied


def test_service_account_can_do_nothing_else(cluster: Cluster, chart_kubeconfig: Path) -> None:
    unwanted: list[Ask] = [
        ("get", "", "secrets", "", ""),
        ("list", "", "secrets", "", ""),
        ("create", "", "pods", "", ""),
        ("delete", "", "pods", "", ""),
        ("create", "", "pods", "exec", "default"),
        ("patch", "", "nodes", "", ""),
        ("update", "aiconform.io", "conformanceprofiles", "", ""),
        ("delete", "aiconform.io", "conformanceprofiles", "", ""),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""),
        ("bind", "rbac.authorization.k8s.io", "clusterroles", "", ""),
        ("impersonate", "", "serviceaccounts", "", ""),
        ("delete", "apiextensions.k8s.io", "customresourcedefinitions", "", ""),
    ]
    granted = [ask for ask, ok in allowed(cluster, chart_kubeconfig, unwanted).items() if ok]
    assert not granted


def test_service_account_reads_discovery_and_version(cluster: Cluster, chart_kubeconfig: Path) -> None:
    """What kopf and the evaluator read outside RBAC rules: the default system:discovery role covers it."""
    for path in ("/version", "/api", "/apis", "/readyz"):
        cmd = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={chart_kubeconfig}", "get", "--raw", path]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, f"{path}: {out.stderr}"
    # And a real list with the token (authentication, not only authorization).
    cmd = [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={chart_kubeconfig}", "get", "cprof", "-o", "name"]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False).returncode == 0
