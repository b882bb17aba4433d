"""The operator's probe loop (evaluator.Operator.probe_periodically): which probe verdicts the passes merge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import kopf
import pytest

from aiconform.api.models import ProfileSpec
from aiconform.conformance.verdict import Verdict
from aiconform.operator import evaluator

UID = "uid-probes"


def _body(run: list[str]) -> kopf.Body:
    raw = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "prod", "generation": 1, "uid": UID},
        "spec": {"mode": "Enforce", "probes": {"run": run}},
    }
    return kopf.Body(cast(kopf.RawBody, raw))


class _StopAfterOneRun:
    """kopf's DaemonStopped, as far as the probe loop uses it: true once one probe run has happened."""

    def __init__(self) -> None:
        self.runs = 0

    def __bool__(self) -> bool:
        return self.runs >= 1

    async def wait(self, _timeout: float) -> None:
        return None


def _verdict(requirement: str) -> Verdict:
    return Verdict(requirement, "Implemented", "ProbeSucceeded", "observed", tier="Observed")


def test_a_probe_taken_off_the_list_stops_counting_before_the_new_list_has_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = evaluator.Operator()
    state = op.state(UID)
    state.probes = (_verdict("dra_support"), _verdict("ai_inference"))
    seen_while_running: list[tuple[str, ...]] = []
    stopped = _StopAfterOneRun()

    async def listed(_logger: Any) -> None:
        return None

    async def run_probes(_kube: Any, spec: ProfileSpec, _snapshot: Any) -> Sequence[Verdict]:
        # What the passes would merge while the (minutes-long) run is under way.
        seen_while_running.append(tuple(v.requirement for v in state.probes))
        stopped.runs += 1
        return [_verdict(name) for name in spec.probes.run]

    monkeypatch.setattr(op, "ensure_listed", listed)
    monkeypatch.setattr(op, "kept_client", lambda _purpose: None)
    monkeypatch.setattr(evaluator, "run_probes", run_probes)
    body, logger = _body(["dra_support"]), logging.getLogger("test")
    asyncio.run(op.probe_periodically(body, stopped, logger))  # type: ignore[arg-type]
    assert seen_while_running == [("dra_support",)]
    assert [v.requirement for v in state.probes] == ["dra_support"]
    assert state.poked.is_set()
