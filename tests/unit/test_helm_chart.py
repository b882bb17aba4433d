"""The Helm chart without Helm: what can be read from its files. Rendering, `helm lint` and the API server's
verdict on the rendered objects are in tests/e2e/test_helm_render.py."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiconform import __version__
from aiconform.devtools.docgen import render_helm_crd_template
from aiconform.kube import sources
from aiconform.kube.kinds import MANAGED_KINDS as KINDS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "aiconform"
TEMPLATES = CHART / "templates"
COMMITTED_CRD = ROOT / "crds" / "conformanceprofiles.aiconform.io.yaml"
READ = {"get", "list", "watch"}
FORBIDDEN_VERBS = {"escalate", "bind", "impersonate", "*"}


def chart() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return data


def values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return data


def test_chart_metadata_follows_the_package() -> None:
    meta = chart()
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert meta["apiVersion"] == "v2" and meta["name"] == "aiconform" and meta["type"] == "application"
    assert meta["appVersion"] == package == __version__ == "0.1.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])


def test_crd_template_is_generated() -> None:
    assert (TEMPLATES / "crd.yaml").read_text() == render_helm_crd_template(), (
        "regenerate: python -m aiconform.devtools.docgen helm-crd > deploy/helm/aiconform/templates/crd.yaml"
    )


def _template_crd_body() -> dict[str, Any]:
    """The CRD template without its Helm actions: apiVersion, kind, name and spec as YAML."""
    text = (TEMPLATES / "crd.yaml").read_text()
    start = text.index("apiVersion:")
    end = text.rindex("{{- end }}")
    lines = [line for line in text[start:end].splitlines() if "{{" not in line]
    # Drop the metadata block the template builds from helpers; keep its name.
    body: dict[str, Any] = yaml.safe_load("\n".join(lines))
    return body


def test_crd_template_holds_the_committed_crd() -> None:
    committed = yaml.safe_load(COMMITTED_CRD.read_text())
    template = _template_crd_body()
    assert template["apiVersion"] == committed["apiVersion"]
    assert template["kind"] == committed["kind"]
    assert template["metadata"]["name"] == committed["metadata"]["name"]
    assert template["spec"] == committed["spec"], "the chart's CRD differs from crds/: regenerate both"


def test_crd_template_is_guarded_and_kept() -> None:
    text = (TEMPLATES / "crd.yaml").read_text()
    assert "{{- if .Values.installCRDs }}" in text
    assert "helm.sh/resource-policy: keep" in text and "{{- if .Values.keepCRDs }}" in text
    assert values()["installCRDs"] is True and values()["keepCRDs"] is True


def _keys_match(vals: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
    """Every value key is declared in a closed schema object, every required key has a value."""
    problems: list[str] = []
    props = node.get("properties", {})
    for key in node.get("required", []):
        if key not in vals:
            problems.append(f"{path}{key}: required by the schema, missing in values.yaml")
    for key, value in vals.items():
        if key not in props:
            if node.get("additionalProperties") is False:
                problems.append(f"{path}{key}: in values.yaml, not in values.schema.json")
            continue
        if isinstance(value, dict) and props[key].get("type") == "object" and "properties" in props[key]:
            problems += _keys_match(value, props[key], f"{path}{key}.")
    for key in props:
        if key not in vals and key != "global":
            problems.append(f"{path}{key}: in values.schema.json, not in values.yaml")
    return problems


def test_values_and_schema_agree() -> None:
    sch = schema()
    assert sch["additionalProperties"] is False, "unknown values must be rejected (typos)"
    assert _keys_match(values(), sch, "") == []


def test_schema_enums_hold_the_defaults() -> None:
    props = schema()["properties"]
    vals = values()
    assert vals["operator"]["logFormat"] in props["operator"]["properties"]["logFormat"]["enum"]
    assert vals["image"]["pullPolicy"] in props["image"]["properties"]["pullPolicy"]["enum"]


def test_restricted_security_defaults() -> None:
    vals = values()
    pod, container = vals["podSecurityContext"], vals["securityContext"]
    for ctx in (pod, container):
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 65532
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(vals["resources"])
    assert {"cpu", "memory"} <= set(vals["resources"]["requests"]) and "memory" in vals["resources"]["limits"]


NONDETERMINISTIC = re.compile(
    r"\b(rand[A-Za-z]*|uuidv4|now|date|dateModify|lookup|genCA|genPrivateKey|genSelfSignedCert|genSignedCert|"
    r"derivePassword|htpasswd)\b"
)


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*")), ids=lambda p: p.name)
def test_templates_render_deterministically(path: Path) -> None:
    actions = re.findall(r"\{\{(.*?)\}\}", path.read_text(), flags=re.DOTALL)
    used = {m.group(1) for a in actions if not a.strip().startswith("/*") for m in NONDETERMINISTIC.finditer(a)}
    assert not used, f"{path.name} uses {sorted(used)}: the same values must always render the same objects"


def _role_rules() -> list[dict[str, Any]]:
    """The ClusterRole's rules, read from the template (the rules block holds no Helm actions)."""
    text = (TEMPLATES / "rbac.yaml").read_text()
    block = text[text.index("\nrules:\n") : text.index("\n---\n")]
    assert "{{" not in block, "keep the rules free of template actions (values-free, reviewed with the code)"
    rules: list[dict[str, Any]] = yaml.safe_load(block)["rules"]
    return rules


def granted(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_role_template_is_least_privilege() -> None:
    rules = _role_rules()
    flat = json.dumps(rules)
    assert "*" not in flat
    assert not any(FORBIDDEN_VERBS & set(r["verbs"]) for r in rules)
    assert not any("nonResourceURLs" in r or "resourceNames" in r for r in rules)
    perms = granted(rules)
    for w in sources.SOURCES:
        assert perms.get((w.group, w.plural), set()) >= READ, f"{w.key}: needs get/list/watch"
    assert perms[("aiconform.io", "conformanceprofiles")] == {"get", "list", "watch", "patch"}
    assert perms[("aiconform.io", "conformanceprofiles/status")] == {"get", "patch", "update"}
    assert perms[("", "events")] == perms[("events.k8s.io", "events")] == {"create", "patch"}
    # Writes: exactly create/patch/delete on what the components make (the DRA kubelet plugin's RBAC is opt-in,
    # in its own template).
    writes = {
        (k.api_version.rpartition("/")[0], k.plural)
        for k in KINDS
        if k.plural not in ("clusterroles", "clusterrolebindings")
    }
    for key in writes:
        assert perms.get(key, set()) - READ == {"create", "patch", "delete"}, key
    assert perms[("rbac.authorization.k8s.io", "clusterroles")] == READ
    # Nothing beyond the watched resources, the written kinds, the profiles and events.
    expected = (
        {(w.group, w.plural) for w in sources.SOURCES}
        | writes
        | {
            ("aiconform.io", "conformanceprofiles"),
            ("aiconform.io", "conformanceprofiles/status"),
            ("", "events"),
            ("events.k8s.io", "events"),
        }
    )
    assert set(perms) == expected
    assert not any(p[1] == "secrets" for p in perms)


def test_role_has_the_managed_components_section() -> None:
    assert "# --- Managed components (write verbs)" in (TEMPLATES / "rbac.yaml").read_text()


def test_deployment_template_runs_the_operator_as_documented() -> None:
    text = (TEMPLATES / "deployment.yaml").read_text()
    assert "replicas: 1" in text and "type: Recreate" in text
    for arg in ("- run", "- --bind-address", "- 0.0.0.0", "- --liveness-port", "- --metrics-port", "- --log-format"):
        assert f"            {arg}\n" in text
    assert "path: /healthz" in text and "mountPath: /tmp" in text and "emptyDir:" in text
    assert values()["operator"]["livenessPort"] == 8080 and values()["operator"]["metricsPort"] == 9090
    assert values()["operator"]["logFormat"] == "json"


def test_no_profile_labels_are_copied() -> None:
    """Chart objects carry the standard labels only: nothing is taken from a profile or from Argo CD."""
    for path in TEMPLATES.glob("*.yaml"):
        text = path.read_text()
        assert "argocd.argoproj.io" not in text, path.name
        assert ".metadata.labels" not in text, path.name
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    for label in (
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "helm.sh/chart",
    ):
        assert label in helpers


def test_notes_mention_the_finalizer() -> None:
    notes = (TEMPLATES / "NOTES.txt").read_text()
    assert "aiconform.io/cleanup" in notes and "kubectl delete cprof --all" in notes
