"""The kopf layer without a cluster: retries and the readiness wait at login."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

import kopf
import pytest

from aiconform.operator import handlers

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


def test_retry_forever_is_reiterable_and_unsized() -> None:
    backoffs = handlers.RetryForever()
    assert not hasattr(backoffs, "__len__")
    first = [b for _, b in zip(range(20), backoffs, strict=False)]
    second = [b for _, b in zip(range(20), backoffs, strict=False)]
    assert first == second and first[-1] == 30.0


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
    assert set(_FakeAPI.seen_auth) == {"Bearer t0k"}


async def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        info = kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}")
        assert f"Cannot connect to host 127.0.0.1:{port}" in (await handlers._readiness_problem(info) or "")


def test_kopf_handles_only_profiles() -> None:
    """Every other kind is watched by informer.py: kopf's per-object machinery cost 40% of the CPU at scale."""
    registry = kopf.get_default_registry()
    handlers_ = [
        h
        for reg in (registry._watching, registry._spawning, registry._changing, registry._indexing)
        for h in reg.get_all_handlers()
    ]
    assert {h.id for h in handlers_} == {"evaluate", "cleanup"}
    assert {(h.selector.group, h.selector.any_name) for h in handlers_ if h.selector} == {
        ("aiconform.io", "conformanceprofiles")
    }
