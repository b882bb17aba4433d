"""Scrapes through the API server's pod proxy (`aiconform check` from outside the cluster): the path kubectl uses,
the API server's own refusals told apart from the exporter's answers, and how `--scrape` picks the way.

The end-to-end run against the real API server is tests/e2e/test_scrape_proxy_e2e.py; here a local HTTP server on
127.0.0.1 plays the proxy's part so the 200 path is exercised over a real connection too (the dev cluster's
API server refuses to proxy to its loopback pod IPs, see that file)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp import web

from aiconform import cli
from aiconform.checker.commands import scrape_mode
from aiconform.kube.client import KubeClient, KubeTransportError
from aiconform.kube.collect import (
    ExporterTarget,
    api_server_refusal,
    collect,
    dcgm_targets,
    pod_proxy_path,
    proxy_error,
    scrape_exporters,
)
from aiconform.kube.snapshot import Scrape

METRICS = (
    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0"} 37\n'
    'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-0"} 1024\n'
    "go_goroutines 7\n"
)


def _status(code: int, message: str, reason: str = "") -> bytes:
    """The API server's own error body, exactly as it writes one."""
    doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    return json.dumps({**doc, "reason": reason, "code": code}).encode()


def _exporter_pod(name: str, ip: str, ns: str = "gpu-operator", port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "exporter"}
    if port is not None:
        container["ports"] = [{"name": "metrics", "containerPort": port}]
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "nvidia-dcgm-exporter"}},
        "spec": {"nodeName": f"node-{name}", "containers": [container]},
        "status": {"phase": "Running", "podIP": ip},
    }


# ---------------------------------------------------------------------------------------------------------------
# Pure parts


def test_pod_proxy_path_is_kubectls() -> None:
    # `kubectl get --raw /api/v1/namespaces/gpu-operator/pods/nvidia-dcgm-exporter-x7k2p:9400/proxy/metrics`
    assert pod_proxy_path("gpu-operator", "nvidia-dcgm-exporter-x7k2p", 9400) == (
        "/api/v1/namespaces/gpu-operator/pods/nvidia-dcgm-exporter-x7k2p:9400/proxy/metrics"
    )


def test_targets_carry_both_ways_and_keep_the_pod_ip_target() -> None:
    pods = [_exporter_pod("a", "10.1.0.5", port=9500), _exporter_pod("b", "fd00::7", ns="monitoring")]
    (a, b) = dcgm_targets(pods)
    assert a == ExporterTarget(
        url="http://10.1.0.5:9500/metrics",
        proxy_path="/api/v1/namespaces/gpu-operator/pods/a:9500/proxy/metrics",
        target="10.1.0.5:9500/metrics",
        node="node-a",
        namespace="gpu-operator",
    )
    # The check matches scrapes to pods by pod IP, so the target names the IP whichever way the pod is reached.
    assert (b.target, b.proxy_path) == (
        "[fd00::7]:9400/metrics",
        "/api/v1/namespaces/monitoring/pods/b:9400/proxy/metrics",
    )


def test_api_server_refusal_only_for_its_own_status() -> None:
    assert api_server_refusal(_status(403, 'pods "a" is forbidden', "Forbidden")) == (403, 'pods "a" is forbidden')
    assert api_server_refusal(_status(400, "address not allowed", "BadRequest")) == (400, "address not allowed")
    # The exporter's own answers, whatever they say, are not the API server's.
    assert api_server_refusal(b"An error has occurred while serving metrics") is None
    assert api_server_refusal(b'{"error": "internal"}') is None
    assert api_server_refusal(b'{"kind": "Status", "apiVersion": "v2"}') is None
    assert api_server_refusal(b"\xff\xfe") is None
    assert api_server_refusal(b"[1, 2]") is None


def test_proxy_errors_never_read_as_an_exporter_answer() -> None:
    (target,) = dcgm_targets([_exporter_pod("a", "10.1.0.5")])
    forbidden = proxy_error(target, 403, 'pods "a" is forbidden: User "u" cannot get resource "pods/proxy"')
    assert "grant get on pods/proxy in namespace gpu-operator" in forbidden
    assert "global unicast" in proxy_error(target, 400, "address not allowed")
    assert proxy_error(target, 404, 'pods "a" not found') == 'API server proxy (HTTP 404): pods "a" not found'
    for code in (400, 401, 403, 404, 503):
        # "HTTP " and "unparsable" open the errors of a scrape that reached the exporter (accelerator_metrics).
        assert not proxy_error(target, code, "x").startswith(("HTTP ", "unparsable"))


def test_scrape_mode() -> None:
    assert scrape_mode("auto", in_cluster=False) == "proxy"
    assert scrape_mode("auto", in_cluster=True) == "direct"
    assert scrape_mode("proxy", in_cluster=True) == "proxy"
    assert scrape_mode("direct", in_cluster=False) == "direct"
    with pytest.raises(ValueError, match="--scrape"):
        scrape_mode("kubelet", in_cluster=False)


@pytest.mark.parametrize("command", ["check", "export"])
def test_scrape_flag(command: str) -> None:
    parser = cli.build_parser()
    assert parser.parse_args([command]).scrape == "auto"
    assert parser.parse_args([command, "--scrape", "direct"]).scrape == "direct"
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--scrape", "kubelet"])


# ---------------------------------------------------------------------------------------------------------------
# Through a client: canned answers per path


class ProxyKube:
    """Enough of KubeClient for proxied scrapes: an answer (or an exception) per path, the paths asked; a path in
    `slow` answers after that many seconds."""

    def __init__(
        self, answers: dict[str, tuple[int, bytes] | BaseException], slow: dict[str, float] | None = None
    ) -> None:
        self.answers, self.slow, self.asked = answers, slow or {}, list[tuple[str, dict[str, str]]]()

    async def get_raw(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.asked.append((path, dict(headers or {})))
        await asyncio.sleep(self.slow.get(path, 0))
        answer = self.answers[path]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _scrape(pods: list[dict[str, Any]], kube: ProxyKube, timeout: float = 3.0) -> tuple[Scrape, ...]:
    return asyncio.run(scrape_exporters(pods, timeout, user_agent="ua/1", via=cast(KubeClient, kube)))


def test_proxied_scrapes_answers_refusals_and_failures() -> None:
    names = ("ok", "boom", "forbidden", "refused", "gone", "apiserver-down", "text", "slow")
    pods = [_exporter_pod(n, f"10.1.0.{i}") for i, n in enumerate(names)]
    path = {n: pod_proxy_path("gpu-operator", n, 9400) for n in names}

    kube = ProxyKube(
        {
            path["ok"]: (200, METRICS.encode()),
            path["boom"]: (500, b"An error has occurred while serving metrics"),
            path["forbidden"]: (
                403,
                _status(403, 'pods "forbidden" is forbidden: User "dev" cannot get resource "pods/proxy"', "Forbidden"),
            ),
            path["refused"]: (
                503,
                _status(503, "error trying to reach service: dial tcp 10.1.0.3:9400: connect: connection refused"),
            ),
            path["gone"]: (404, _status(404, 'pods "gone" not found', "NotFound")),
            path["apiserver-down"]: KubeTransportError("GET ...: ClientConnectorError"),
            path["text"]: (200, b"DCGM_FI_DEV_GPU_UTIL{gpu=0 notanumber\n"),
            path["slow"]: (200, METRICS.encode()),
        },
        slow={path["slow"]: 5.0},
    )
    got = {s.node: s for s in _scrape(pods, kube, timeout=0.3)}
    assert got["node-ok"].ok and {s.name for s in got["node-ok"].samples} == {
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
    }
    assert got["node-ok"].target == "10.1.0.0:9400/metrics"
    # The exporter's own answers: it was reached, and failed.
    assert got["node-boom"].error == "HTTP 500"
    assert got["node-text"].error.startswith("unparsable metrics")
    # The API server's refusals and failures: the exporter was never reached.
    assert "grant get on pods/proxy in namespace gpu-operator" in got["node-forbidden"].error
    assert "connection refused" in got["node-refused"].error
    assert 'pods "gone" not found' in got["node-gone"].error
    assert got["node-apiserver-down"].error.startswith("API server: ")
    assert "within 0.3s" in got["node-slow"].error
    for n in ("forbidden", "refused", "gone", "apiserver-down", "slow"):
        assert not got[f"node-{n}"].ok and not got[f"node-{n}"].error.startswith(("HTTP ", "unparsable")), n
    # One GET per pod, no retries, our User-Agent on each.
    assert sorted(p for p, _ in kube.asked) == sorted(path.values())
    assert {h["User-Agent"] for _, h in kube.asked} == {"ua/1"}


def test_collect_scrapes_through_the_client_in_proxy_mode_only() -> None:
    pods = [_exporter_pod("a", "10.1.0.5")]
    answers: dict[str, tuple[int, bytes] | BaseException] = {pod_proxy_path("gpu-operator", "a", 9400): (200, b"")}

    class Cluster(ProxyKube):
        async def version(self) -> dict[str, Any]:
            return {"gitVersion": "v1.37.2"}

        async def get(self, path: str) -> dict[str, Any] | None:
            docs: dict[str, dict[str, Any]] = {
                "/api/v1": {"resources": [{"name": "pods"}, {"name": "nodes"}]},
                "/apis": {"groups": []},
            }
            return docs.get(path)

        async def list(self, path: str) -> list[dict[str, Any]]:
            return list(pods) if path == "/api/v1/pods" else []

    kube = Cluster(answers)
    snap = asyncio.run(collect(cast(KubeClient, kube), scrape_mode="proxy"))
    assert [(s.target, s.ok) for s in snap.scrapes] == [("10.1.0.5:9400/metrics", True)]
    assert len(kube.asked) == 1
    with pytest.raises(ValueError, match="scrape_mode"):
        asyncio.run(collect(cast(KubeClient, kube), scrape_mode="kubelet"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Over a real connection: KubeClient.get_raw against a local stand-in for the proxy (127.0.0.1 only)


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent", ""))
        pod = request.match_info["pod"]
        if pod == "a:9400":
            return web.Response(text=METRICS, content_type="text/plain")
        return web.Response(status=403, body=_status(403, "forbidden"), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/proxy/metrics", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_get_raw_over_a_real_connection(stand_in: tuple[str, list[str]]) -> None:
    server, seen = stand_in
    pods = [_exporter_pod("a", "10.1.0.5"), _exporter_pod("b", "10.1.0.6")]
    async with KubeClient(server=server, ssl_context=ssl.create_default_context()) as kube:
        a, b = await scrape_exporters(pods, 3.0, user_agent="aiconform-check/9", via=kube)
    assert a.ok and len(a.samples) == 2
    assert not b.ok and "grant get on pods/proxy in namespace gpu-operator" in b.error
    assert seen == ["aiconform-check/9", "aiconform-check/9"]
