"""ConformanceProfiles against the real API server and the operator running as its own process."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, Cluster, Operator

pytestmark = pytest.mark.e2e

INVALID = sorted((ROOT / "tests" / "invalid_profiles").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name} must start with '# expect: <substring>'"
    return first.removeprefix("# expect:").strip()


def _profile(name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "metadata": {"name": name}, "spec": spec}
    )


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == ctype:
            return dict(cond)
    return None


def _observed(cluster: Cluster, name: str, generation: int = 1) -> dict[str, Any] | None:
    """The profile once the operator has written status for its current generation (at least `generation`)."""
    obj = cluster.get_json("conformanceprofile", name)
    status = obj.get("status") or {}
    current = obj["metadata"]["generation"]
    if current >= generation and status.get("observedGeneration") == current and _condition(obj, "Ready"):
        return obj
    return None


def test_explain_is_useful(cluster: Cluster, crd: str) -> None:
    out = cluster.kubectl("explain", "conformanceprofile.spec.components.keda.minReplicas").stdout
    assert "DESCRIPTION" in out and len(out.split("DESCRIPTION", 1)[1].strip()) > 20
    out = cluster.kubectl("explain", "cprof.spec.mode").stdout
    assert "Audit" in out or "Enforce" in out


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_profile_is_rejected_at_apply(cluster: Cluster, crd: str, path: Path) -> None:
    out = cluster.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert out.returncode != 0, f"{path.name} was accepted"
    assert _expectation(path) in out.stderr, out.stderr


def test_enough_invalid_examples() -> None:
    assert len(INVALID) >= 12


def test_examples_are_accepted(cluster: Cluster, crd: str) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        out = cluster.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
        assert out.returncode == 0, f"{path.name}: {out.stderr}"


def test_profile_becomes_ready_without_claiming_conformance(cluster: Cluster, operator: Operator) -> None:
    started = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=_profile("e2e-ready", {"mode": "Audit"}))
    try:
        obj = cluster.wait_for("Ready with observedGeneration", lambda: _observed(cluster, "e2e-ready"), timeout=30)
        took = time.monotonic() - started
        print(f"apply→Ready: {took:.2f}s")
        ready = _condition(obj, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        assert ready["observedGeneration"] == obj["metadata"]["generation"]
        assert ready["lastTransitionTime"]
        conformant = _condition(obj, "Conformant")
        assert conformant is None or conformant["status"] != "True", "nothing is checked yet: no claim"
        summary = obj["status"]["summary"]
        assert summary["kubernetesVersion"] == "v1.36", "newest known checklist for a v1.37 cluster"
        # Printer columns show it.
        table = cluster.kubectl("get", "cprof", "e2e-ready").stdout
        assert "v1.36" in table and "Audit" in table

        # A spec change bumps the generation; the operator catches up, Ready's transition time stays.
        cluster.kubectl("patch", "cprof", "e2e-ready", "--type=merge", "-p", '{"spec":{"mode":"Enforce"}}')
        obj2 = cluster.wait_for("observedGeneration 2", lambda: _observed(cluster, "e2e-ready", 2), timeout=30)
        ready2 = _condition(obj2, "Ready")
        assert ready2 is not None and ready2["lastTransitionTime"] == ready["lastTransitionTime"]
        assert obj2["status"]["summary"]["mode"] == "Enforce"
    finally:
        cluster.kubectl("delete", "cprof", "e2e-ready", "--wait=true", "--timeout=30s", check=False)


def test_unknown_checklist_version_is_a_condition_not_a_crash(cluster: Cluster, operator: Operator) -> None:
    cluster.kubectl("apply", "-f", "-", input=_profile("e2e-old", {"kubernetesVersion": "v1.20"}))
    try:
        obj = cluster.wait_for("Ready=False", lambda: _observed(cluster, "e2e-old"), timeout=30)
        ready = _condition(obj, "Ready")
        assert ready is not None and ready["status"] == "False"
        assert ready["reason"] == "UnknownChecklistVersion"
        assert "v1.20" in ready["message"]
        assert operator.proc is not None and operator.proc.poll() is None, "operator still running"
    finally:
        cluster.kubectl("delete", "cprof", "e2e-old", "--timeout=30s", check=False)


def test_liveness_and_metrics(operator: Operator) -> None:
    with urllib.request.urlopen(operator.liveness, timeout=5) as resp:
        assert resp.status == 200
        json.loads(resp.read() or b"{}")
    with urllib.request.urlopen(operator.metrics, timeout=5) as resp:
        body = resp.read().decode()
    assert "aiconform_reconcile_duration_seconds" in body
