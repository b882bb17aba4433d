"""The kopf layer without a cluster: reconcile on kopf.Body/Patch, with /version and Events stubbed."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

import kopf
import pytest
from prometheus_client import generate_latest

from aiconform import handlers, metrics

LOGGER = logging.getLogger("test")


def _body(spec: dict[str, Any] | None, status: dict[str, Any] | None = None, generation: int = 1) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "prod", "generation": generation, "uid": "u1"},
        "spec": spec,
    }
    if status is not None:
        raw["status"] = status
    return kopf.Body(cast(kopf.RawBody, raw))


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    posted: list[tuple[str, str, str]] = []

    def fake(kind: str) -> Any:
        def post(body: kopf.Body, *, reason: str, message: str = "") -> None:
            posted.append((kind, reason, message))

        return post

    monkeypatch.setattr(kopf, "info", fake("Normal"))
    monkeypatch.setattr(kopf, "warn", fake("Warning"))
    return posted


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    version: dict[str, str | None] = {"git": "v1.36.3"}

    async def fetch(info: Any, logger: Any) -> str | None:
        return version["git"]

    monkeypatch.setattr(handlers, "fetch_cluster_version", fetch)
    return version


def _status_after(patch: kopf.Patch, old: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(old or {})
    for key, value in patch.status.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {k: v for k, v in {**merged[key], **value}.items() if v is not None}
        else:
            merged[key] = value
    return merged


async def test_valid_profile_then_no_rewrite(events: list[Any], cluster: dict[str, Any]) -> None:
    patch = kopf.Patch()
    await handlers.reconcile(_body({}), patch, LOGGER)
    status = _status_after(patch, None)
    assert status["summary"]["kubernetesVersion"] == "v1.36"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Ready": "True", "Conformant": "Unknown"}
    assert [e[:2] for e in events] == [("Normal", "Reconciled"), ("Normal", "NotEvaluated")]
    assert "spec" not in patch and "metadata" not in patch

    again = kopf.Patch()
    await handlers.reconcile(_body({}, status), again, LOGGER)
    assert not again  # level-based and stable: nothing to write, no new Events
    assert len(events) == 2

    text = generate_latest(metrics.REGISTRY).decode()
    assert 'aiconform_profile_ready{profile="prod"} 1.0' in text
    assert 'aiconform_requirement_status{level="MUST",profile="prod",requirement="gang_scheduling"} -1.0' in text


async def test_invalid_spec_names_the_field(events: list[Any], cluster: dict[str, Any]) -> None:
    patch = kopf.Patch()
    await handlers.reconcile(_body({"mode": "Sometimes"}), patch, LOGGER)
    ready = next(c for c in patch.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.mode" in ready["message"]
    assert ("Warning", "InvalidSpec") in [e[:2] for e in events]
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'aiconform_profile_ready{profile="prod"} 0.0' in text


async def test_cluster_version_unknown_counts_an_error(events: list[Any], cluster: dict[str, Any]) -> None:
    cluster["git"] = None
    before = metrics.RECONCILE_ERRORS._value.get()
    patch = kopf.Patch()
    await handlers.reconcile(_body({"kubernetesVersion": "auto"}), patch, LOGGER)
    ready = next(c for c in patch.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ClusterVersionUnknown"
    assert metrics.RECONCILE_ERRORS._value.get() == before + 1


async def test_explicit_version_does_not_ask_the_cluster(events: list[Any], cluster: dict[str, Any]) -> None:
    cluster["git"] = None  # would fail if asked
    patch = kopf.Patch()
    await handlers.reconcile(_body({"kubernetesVersion": "v1.34"}), patch, LOGGER)
    assert patch.status["summary"]["mustMet"] == "?/9"


async def test_reconcile_never_raises(events: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(body: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(handlers, "read_spec", boom)
    patch = kopf.Patch()
    await handlers.reconcile(_body({}), patch, LOGGER)
    assert not patch


async def test_timer_respects_evaluation_interval(events: list[Any], cluster: dict[str, Any]) -> None:
    handlers._state.evaluated_at.clear()
    body = _body({"evaluationIntervalSeconds": 3600})
    first = kopf.Patch()
    await handlers.reconcile(body, first, LOGGER, periodic=True)
    assert first  # never evaluated: due
    cluster["git"] = "v1.35.0"
    second = kopf.Patch()
    await handlers.reconcile(
        _body({"evaluationIntervalSeconds": 3600}, _status_after(first, None)), second, LOGGER, periodic=True
    )
    assert not second  # not due yet, even though the cluster changed
    third = kopf.Patch()
    await handlers.reconcile(_body({"evaluationIntervalSeconds": 3600}, _status_after(first, None)), third, LOGGER)
    assert third.status["summary"]["kubernetesVersion"] == "v1.35"  # event-driven runs are never skipped


def test_retry_forever_is_reiterable_and_unsized() -> None:
    backoffs = handlers.RetryForever()
    assert not hasattr(backoffs, "__len__")
    first = [b for _, b in zip(range(20), backoffs, strict=False)]
    second = [b for _, b in zip(range(20), backoffs, strict=False)]
    assert first == second and first[-1] == 30.0


def test_delete_forgets_metrics() -> None:
    metrics.PROFILE_READY.labels("gone").set(1)
    metrics.set_requirements("gone", {("dra_support", "MUST"): -1})
    handlers.forget("gone")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'profile="gone"' not in text


class _FakeAPI(http.server.BaseHTTPRequestHandler):
    """/readyz and /version as a kube-apiserver answers them; `readyz` is the status code to give."""

    readyz = 500
    seen_auth: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen_auth.append(self.headers.get("Authorization"))
        code, body = (self.readyz, b"ok") if self.path == "/readyz" else (200, b'{"gitVersion": "v1.35.2-x"}')
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[kopf.ConnectionInfo]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kopf.ConnectionInfo(server=f"http://127.0.0.1:{server.server_address[1]}", token="t0k")
    finally:
        server.shutdown()
        server.server_close()


async def test_readiness_and_version(fake_api: kopf.ConnectionInfo) -> None:
    _FakeAPI.readyz = 500
    assert await handlers._readiness_problem(fake_api) == "/readyz answered HTTP 500"
    for code in (200, 401, 403):  # ready, or not allowed to ask: go ahead either way
        _FakeAPI.readyz = code
        assert await handlers._readiness_problem(fake_api) is None
    await handlers.wait_until_ready(fake_api, LOGGER)
    assert await handlers.fetch_cluster_version(fake_api, LOGGER) == "v1.35.2-x"
    assert set(_FakeAPI.seen_auth) == {"Bearer t0k"}


async def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        info = kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}")
        assert "ConnectError" in (await handlers._readiness_problem(info) or "")
        assert await handlers.fetch_cluster_version(info, LOGGER) is None
