"""The operator's evaluation without a cluster: ClusterView bookkeeping and the status decided from it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import kopf
import pytest

from aiconform.kube.view import ClusterView, trim
from aiconform.operator import evaluator
from aiconform.operator.status import status_patch


def _body(spec: dict[str, Any] | None, generation: int = 1) -> kopf.Body:
    raw = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "prod", "generation": generation, "uid": "u1"},
        "spec": spec,
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def _node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


@pytest.fixture
def view() -> ClusterView:
    fresh = ClusterView()
    fresh.server_version = "v1.37.2"
    return fresh


def _conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_status_has_a_condition_per_requirement_and_is_stable(view: ClusterView) -> None:
    view.apply_event("nodes", None, _node("gpu-1", {"nvidia.com/gpu.present": "true"}))
    status, evaluation = evaluator.decide(_body({}), {}, "2026-11-23T00:00:00Z", view.snapshot())
    assert evaluation is not None and evaluation.version == "v1.36"
    conds = _conds(status)
    assert conds["Ready"] == ("True", "Evaluated")
    assert "dra_support" not in conds  # not in the 1.36 checklist
    assert {"gang_scheduling", "accelerator_metrics", "secure_accelerator_access"} <= set(conds)
    assert len(status["requirements"]) == 14
    # A bare cluster lacks Gateway API, Kueue, …: not conformant, and it says which MUSTs fail.
    assert conds["Conformant"][0] == "False"
    assert status["summary"]["conformant"] == "False"
    assert "gang_scheduling" in next(c["message"] for c in status["conditions"] if c["type"] == "Conformant")
    again, _ = evaluator.decide(_body({}), status, "2026-11-23T01:00:00Z", view.snapshot())
    assert status_patch(status, again) == {}  # nothing changed: no write, no Event


def test_declared_requirement_is_shown_as_declared(view: ClusterView) -> None:
    spec = {"requirements": {"cluster_autoscaling": {"status": "N/A", "notes": "fixed on-prem pools"}}}
    status, _ = evaluator.decide(_body(spec), {}, "2026-11-23T00:00:00Z", view.snapshot())
    req = next(r for r in status["requirements"] if r["id"] == "cluster_autoscaling")
    assert (req["status"], req["reason"], req["declared"]) == ("N/A", "Declared", True)


def test_invalid_spec_and_unknown_cluster_version(view: ClusterView) -> None:
    status, evaluation = evaluator.decide(_body({"mode": "Sometimes"}), {}, "2026-11-23T00:00:00Z", view.snapshot())
    assert evaluation is None and _conds(status)["Ready"] == ("False", "InvalidSpec")
    view.server_version = None
    status, _ = evaluator.decide(_body({}), {}, "2026-11-23T00:00:00Z", view.snapshot())
    assert _conds(status)["Ready"] == ("False", "ClusterVersionUnknown")
    status, evaluation = evaluator.decide(
        _body({"kubernetesVersion": "v1.34"}), {}, "2026-11-23T00:00:00Z", view.snapshot()
    )
    assert evaluation is not None and status["summary"]["mustMet"].endswith("/9")


def test_flip_posts_one_event_per_changed_condition(monkeypatch: pytest.MonkeyPatch, view: ClusterView) -> None:
    posted: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "info", lambda body, *, reason, message="": posted.append(("Normal", reason)))
    monkeypatch.setattr(kopf, "warn", lambda body, *, reason, message="": posted.append(("Warning", reason)))
    old, _ = evaluator.decide(_body({}), {}, "2026-11-23T00:00:00Z", view.snapshot())
    spec = {"requirements": {"gang_scheduling": {"status": "Implemented", "notes": "Kueue, tested in CI"}}}
    new, _ = evaluator.decide(_body(spec), old, "2026-11-23T00:00:01Z", view.snapshot())
    evaluator._post_flips(_body(spec), old, new)
    assert posted == [("Normal", "Declared")]
    moved = next(c for c in new["conditions"] if c["type"] == "gang_scheduling")
    kept = next(c for c in new["conditions"] if c["type"] == "Ready")
    assert moved["lastTransitionTime"] == "2026-11-23T00:00:01Z"
    assert kept["lastTransitionTime"] == "2026-11-23T00:00:00Z"


def test_view_counts_only_real_changes_and_wakes_waiters() -> None:
    view = ClusterView()
    node = _node("n1", {"a": "b"})
    view.apply_event("nodes", None, node)
    gen = view.generation
    view.apply_event("nodes", "MODIFIED", node)
    assert view.generation == gen  # same content: no wake-up
    view.apply_event("nodes", "DELETED", node)
    assert view.generation == gen + 1 and view.objects("nodes") == ()

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(view.wait_changed(view.generation, timeout=2))
        await asyncio.sleep(0.05)
        view.apply_event("nodes", "ADDED", node)
        woke = await task
        idle = await view.wait_changed(view.generation, timeout=0.05)
        return woke, idle

    assert asyncio.run(scenario()) == (True, False)


def test_custom_resources_appear_with_their_established_crd() -> None:
    view = ClusterView()
    view.apply_event("clusterqueues.kueue.x-k8s.io", None, {"metadata": {"name": "gpu"}})
    assert "clusterqueues.kueue.x-k8s.io" not in view.snapshot().custom
    crd = {
        "metadata": {"name": "clusterqueues.kueue.x-k8s.io"},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    view.apply_event("customresourcedefinitions.apiextensions.k8s.io", None, crd)
    assert len(view.snapshot().custom["clusterqueues.kueue.x-k8s.io"]) == 1


def test_trim_drops_managed_fields_and_last_applied() -> None:
    body = {
        "metadata": {
            "name": "x",
            "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
        },
        "spec": {},
    }
    assert trim(body)["metadata"] == {"name": "x", "annotations": {"keep": "me"}}


def test_kept_client_is_reused_per_purpose_and_replaced_when_the_login_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        op = evaluator.Operator()
        monkeypatch.setattr(evaluator, "RETIRE_AFTER", 0.0)
        with pytest.raises(RuntimeError, match="not logged in"):
            op.kept_client("pass")
        op.connection = kopf.ConnectionInfo(server="https://127.0.0.1:1", insecure=True)
        first = op.kept_client("pass")
        await first._http()  # opens its connection pool
        again = op.kept_client("pass")
        assert again is first
        repair = op.kept_client("repair")
        assert repair is not first
        op.connection = kopf.ConnectionInfo(server="https://127.0.0.1:1", insecure=True)
        relogged = op.kept_client("pass")
        assert relogged is not first
        await asyncio.sleep(0.05)  # the retired client closes after RETIRE_AFTER
        assert first._session is None and not op.retired
        await relogged._http()
        await op.close_clients()
        assert relogged._session is None and not op.clients

    asyncio.run(scenario())
