"""The Argo CD health check of ConformanceProfile (deploy/argocd/health.lua), run in Lua 5.1 as Argo CD runs it
(gopher-lua implements 5.1), against Argo's own test format (health_test.yaml) and a few edge cases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

lupa = pytest.importorskip("lupa.lua51")

ROOT = Path(__file__).resolve().parents[2]
ARGO = ROOT / "deploy" / "argocd"
SCRIPT = (ARGO / "health.lua").read_text()
CASES: list[dict[str, Any]] = yaml.safe_load((ARGO / "health_test.yaml").read_text())["tests"]


def to_lua(runtime: Any, value: Any) -> Any:
    """Python → Lua the way Argo CD hands `obj` to the script: maps become tables, lists 1-based arrays."""
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> dict[str, Any]:
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(SCRIPT)
    out = dict(result.items())
    assert set(out) <= {"status", "message"}, out
    return out


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ARGO / "testdata" / name).read_text())
    return data


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argo_test_cases(case: dict[str, Any]) -> None:
    got = health(yaml.safe_load((ARGO / case["inputPath"]).read_text()))
    assert got == case["healthStatus"]


def test_every_sample_has_a_case_and_every_status_is_reached() -> None:
    samples = {f"testdata/{p.name}" for p in (ARGO / "testdata").glob("*.yaml")}
    assert samples == {c["inputPath"] for c in CASES}
    assert {c["healthStatus"]["status"] for c in CASES} == {"Healthy", "Progressing", "Degraded"}


def test_runs_on_lua_51() -> None:
    assert lupa.LuaRuntime().eval("_VERSION") == "Lua 5.1"


def _with(obj: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {**obj, "status": {**obj["status"], **status}}


def test_generation_caught_up_is_not_progressing() -> None:
    obj = load("generation-behind.yaml")
    assert health(obj)["status"] == "Progressing"
    obj["status"]["observedGeneration"] = obj["metadata"]["generation"]
    assert health(obj)["status"] == "Healthy"


def test_missing_generation_counts_as_zero() -> None:
    obj = load("conformant.yaml")
    del obj["metadata"]["generation"]
    assert health(obj)["status"] == "Healthy"


def test_null_conditions_wait_for_the_operator() -> None:
    obj = _with(load("conformant.yaml"), conditions=None)
    assert health(obj) == {
        "status": "Progressing",
        "message": "Waiting for the aiconform operator to report Ready and Conformant",
    }


def test_ready_false_wins_over_conformant_and_tolerates_no_message() -> None:
    obj = load("not-ready.yaml")
    for cond in obj["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.pop("message")
            cond["reason"] = "InvalidSpec"
        else:
            cond.update(status="True", reason="AllMustsMet")
    assert health(obj) == {"status": "Degraded", "message": "InvalidSpec: the operator cannot act on this profile"}


def test_ready_unknown_is_progressing() -> None:
    obj = load("conformant.yaml")
    obj["status"]["conditions"][0]["status"] = "Unknown"
    assert health(obj)["status"] == "Progressing"


def test_healthy_without_summary() -> None:
    obj = load("conformant.yaml")
    del obj["status"]["summary"]
    assert health(obj) == {
        "status": "Healthy",
        "message": "Conformant: all 9 MUST requirements of checklist v1.36 are met",
    }


def test_deletion_wins_over_everything() -> None:
    obj = load("not-ready.yaml")
    obj["metadata"]["deletionTimestamp"] = "2026-11-21T09:00:00Z"
    assert health(obj)["status"] == "Progressing"


def test_argocd_doc_embeds_the_script_verbatim() -> None:
    doc = (ROOT / "docs" / "argocd.md").read_text()
    match = re.search(
        r"resource\.customizations\.health\.aiconform\.io_ConformanceProfile: \|\n((?:    .*\n|\n)+)",
        doc,
    )
    assert match, "docs/argocd.md must carry the argocd-cm snippet"
    embedded = "\n".join(line[4:] for line in match.group(1).rstrip("\n").split("\n")) + "\n"
    assert embedded == SCRIPT, "docs/argocd.md and deploy/argocd/health.lua differ: paste the script again"


def test_example_application() -> None:
    app = yaml.safe_load((ARGO / "application.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    assert "namespace" not in app["spec"]["destination"], "profiles are cluster-scoped"
    assert app["spec"]["source"]["path"]
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
