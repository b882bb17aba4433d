"""A whole pass of the operator object without a cluster: render, decide, apply, evaluate, status, with an
injected client and clock; and the per-profile state in one place (a deleted profile is one removal)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pytest

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube import kinds
from aiconform.kube.client import KubeApiError, path_for
from aiconform.operator import evaluator

UID = "5f1d2c3b-0000-4000-8000-00000000beef"
LOGGER = logging.getLogger("test")


class RecordingClient:
    """Records what a pass writes; refuses what it is told to. Stands in for the REST client in unit tests only
    (the e2e suite runs the same pass against the real API server)."""

    concurrency = 4

    def __init__(self, refuse: Mapping[str, KubeApiError] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse = dict(refuse or {})

    def _check(self, verb: str, obj: Mapping[str, Any]) -> None:
        path = path_for(obj)
        self.calls.append((verb, path))
        if obj["kind"] in self.refuse:
            raise self.refuse[obj["kind"]]

    async def create(self, obj: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._check("create", obj)
        return dict(obj)

    async def apply(self, obj: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._check("apply", obj)
        return dict(obj)

    async def delete(self, obj: Mapping[str, Any], **_: Any) -> None:
        self._check("delete", obj)

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        return {}

    async def close(self) -> None:
        return None


def _body(spec: dict[str, Any]) -> kopf.Body:
    raw = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "prod", "generation": 1, "uid": UID},
        "spec": spec,
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def _operator(client: RecordingClient) -> evaluator.Operator:
    now = [1000.0]
    op = evaluator.Operator(clock=lambda: now[0], client_factory=lambda _info, _n: client)  # type: ignore[arg-type,return-value]
    op.connection = kopf.ConnectionInfo(server="https://127.0.0.1:1", insecure=True)
    op.view.server_version = "v1.36.0"
    op.view.apply_event("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}})
    tenant = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"aiconform.io/tenant": "true"}},
    }
    op.view.apply_event("namespaces", None, tenant)
    return op


@pytest.fixture(autouse=True)
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """kopf posts Events through its running loop's queue; here they are recorded."""
    posted: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "info", lambda body, *, reason, message="": posted.append(("Normal", reason)))
    monkeypatch.setattr(kopf, "warn", lambda body, *, reason, message="": posted.append(("Warning", reason)))
    return posted


QUOTAS = {"components": {"quotas": {"enabled": True, "gpusPerTenant": 2}}}


def test_a_pass_applies_and_writes_status_without_a_cluster() -> None:
    client = RecordingClient()
    op = _operator(client)
    status = asyncio.run(op.run_pass(_body(QUOTAS), LOGGER))
    assert any(
        verb == "create" and path.startswith("/api/v1/namespaces/team-a/resourcequotas/") for verb, path in client.calls
    )
    assert ("PATCH", "/apis/aiconform.io/v1alpha1/conformanceprofiles/prod/status") in client.calls
    assert status["components"]["quotas"]["state"] == "Ready"
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Conformant"}
    assert status["lastEvaluated"]  # the heartbeat consumers read staleness from
    from prometheus_client import generate_latest

    from aiconform.operator import metrics

    text = generate_latest(metrics.REGISTRY).decode()
    assert 'aiconform_last_evaluation_timestamp_seconds{profile="prod"}' in text


def test_a_refused_write_is_reported_and_the_status_is_still_written(events: list[tuple[str, str]]) -> None:
    client = RecordingClient({"ResourceQuota": KubeApiError(403, "resourcequotas is forbidden")})
    op = _operator(client)
    status = asyncio.run(op.run_pass(_body(QUOTAS), LOGGER))
    assert status["components"]["quotas"]["state"] == "Degraded"
    assert "forbidden" in status["components"]["quotas"]["message"]
    assert any(verb == "PATCH" for verb, _ in client.calls)  # the verdicts do not freeze
    assert events.count(("Warning", "ApplyFailed")) == 1
    asyncio.run(op.run_pass(_body(QUOTAS), LOGGER))
    assert events.count(("Warning", "ApplyFailed")) == 1  # one Event when it starts, not one per pass


def test_an_object_kedas_controller_made_from_ours_is_never_touched() -> None:
    """The HPA KEDA makes carries our labels: no pass prunes, updates or counts it."""
    client = RecordingClient()
    op = _operator(client)
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: "prod", "app.kubernetes.io/component": "keda"}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "keda-hpa-vllm",
            "namespace": "team-a",
            "labels": labels,
            "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "vllm", "uid": "x"}],
        },
    }
    op.view.apply_event("horizontalpodautoscalers.autoscaling", None, hpa)
    asyncio.run(op.run_pass(_body(QUOTAS), LOGGER))
    assert not [c for c in client.calls if "horizontalpodautoscalers" in c[1]]
    assert kinds.ident_of(hpa) not in op.view.managed("prod", UID).ours


def test_a_profile_is_one_removal_and_a_restart_is_a_new_object() -> None:
    op = _operator(RecordingClient())
    asyncio.run(op.run_pass(_body(QUOTAS), LOGGER))
    assert UID in op.profiles and op.profiles[UID].memory.desired
    op.forget(UID)
    assert op.profiles == {}
    assert evaluator.Operator().view is not op.view


def test_the_last_probe_verdicts_are_merged_into_the_status() -> None:
    """A pass merges the profile's last probe run (spec.probes) over the checks: an Observed canary proves."""
    from aiconform.conformance.verdict import Verdict

    op = _operator(RecordingClient())
    spec = {"kubernetesVersion": "v1.35", "probes": {"run": ["dra_support"], "intervalSeconds": 300}}
    before = asyncio.run(op.run_pass(_body(spec), LOGGER))
    dra = next(r for r in before["requirements"] if r["id"] == "dra_support")
    assert dra["status"] != "Implemented"
    observed = Verdict(
        "dra_support",
        "Implemented",
        "BehaviourObserved",
        "the scheduler allocated a device of gpu.nvidia.com and bound the canary pod",
        tier="Observed",
        transcript=("claim allocated",),
    )
    op.state(UID).probes = (observed,)
    after = asyncio.run(op.run_pass(_body(spec), LOGGER))
    dra = next(r for r in after["requirements"] if r["id"] == "dra_support")
    assert (dra["status"], dra["tier"]) == ("Implemented", "Observed")
    probes = next(c for c in after["conditions"] if c["type"] == "Probes")
    assert (probes["status"], probes["reason"]) == ("True", "ProbesRan")
    assert not any(c["type"] == "Probes" for c in before["conditions"])  # no probe has run yet
