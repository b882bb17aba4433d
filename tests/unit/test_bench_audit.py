"""The benchmark attributes API requests to the operator from the audit log, by user agent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import stack


def _line(agent: str, verb: str, resource: str | None = None, group: str = "", **extra: str) -> str:
    event: dict[str, object] = {"kind": "Event", "userAgent": agent, "verb": verb, "requestURI": "/x"}
    if resource:
        event["objectRef"] = {"resource": resource, "apiGroup": group, **extra}
    return json.dumps(event)


def test_counts_only_operator_agents_by_verb_and_resource() -> None:
    lines = [
        _line("kopf/1.45.0", "watch", "pods"),
        _line("kopf/1.45.0", "watch", "pods"),
        _line("aiconform-operator", "patch", "conformanceprofiles", "aiconform.io", subresource="status"),
        _line("kubectl/v1.37.2 (linux/amd64)", "create", "configmaps"),
        _line("kwok/v0.8.0", "update", "nodes", subresource="status"),
        '{"kind": "Event", "userAgent": "kopf/1.4',  # a line still being written
    ]
    assert stack.audit_requests(lines) == {
        "patch aiconform.io/conformanceprofiles/status": 1,
        "watch /pods": 2,
    }


def test_non_resource_requests_use_the_path() -> None:
    assert stack.audit_requests([_line("aiconform-operator", "get")]) == {"get /x": 1}


def test_settled_needs_the_current_generation_and_every_enabled_component_ready() -> None:
    doc = {"spec": {"components": {"kueue": {"enabled": True}, "keda": {"enabled": True}, "dra": {"enabled": False}}}}

    def profile(observed: int, **states: str) -> dict[str, object]:
        components = {k: {"state": v} for k, v in states.items()}
        return {"metadata": {"generation": 2}, "status": {"observedGeneration": observed, "components": components}}

    assert stack.settled(profile(2, kueue="Ready", keda="Ready"), doc) == (True, {"kueue": "Ready", "keda": "Ready"})
    assert not stack.settled(profile(1, kueue="Ready", keda="Ready"), doc)[0]  # status of the previous spec
    assert not stack.settled(profile(2, kueue="Ready", keda="Progressing"), doc)[0]
    assert not stack.settled(profile(2, kueue="Ready"), doc)[0]
    assert stack.settled({}, doc) == (False, {})  # not created yet, or no status
