"""accelerator_metrics on scrapes made through the API server's pod proxy (`aiconform check` from a laptop): the
collector's real proxied scrape feeds the check, so a refusal by the API server (forbidden, address not allowed,
backend unreachable) is never read as a failed exporter, and the exporter's own answers still are."""

import asyncio

from checkbuilders import FB_USED, UTIL, daemonset, gpu_node, gpu_slice, gpu_uuid, node, pod, profile, snap

from aiconform.conformance.checks import accelerator_metrics as am
from aiconform.conformance.verdict import condition_status
from aiconform.kube.collect import pod_proxy_path, scrape_exporters

NODES = ("h-0", "h-1")
NS = "gpu-operator"


def _status(code, message):
    return f'{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"{message}","code":{code}}}'.encode()


def _metrics(node_name):
    lines = [f'{m}{{gpu="{g}",UUID="{gpu_uuid(node_name, g)}"}} 1' for m in (UTIL, FB_USED) for g in range(2)]
    return ("\n".join(lines) + "\n").encode()


class ProxyKube:
    def __init__(self, answers):
        self.answers = answers

    async def get_raw(self, path, headers=None):
        return self.answers[path]


def _verdict(answers):
    pods = [
        pod(NS, f"dcgm-exporter-{i}", node=n, owner=("DaemonSet", "dcgm-exporter"), ip=f"10.1.0.{i}")
        for i, n in enumerate(NODES)
    ]
    by_path = {pod_proxy_path(NS, f"dcgm-exporter-{i}", 9400): answers[n] for i, n in enumerate(NODES)}
    scrapes = asyncio.run(scrape_exporters(pods, via=ProxyKube(by_path)))
    cluster = snap(
        nodes=[gpu_node(n) for n in NODES] + [node("cpu-0")],
        resource_slices=[gpu_slice(n) for n in NODES],
        daemonsets=[daemonset(NS, "dcgm-exporter", ready=2, desired=2)],
        pods=pods,
        scrapes=list(scrapes),
    )
    return am.check(cluster, profile())


def test_proxied_scrapes_verify_the_metrics():
    v = _verdict({n: (200, _metrics(n)) for n in NODES})
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "Observed")


def test_forbidden_proxy_is_unknown_and_names_the_permission():
    denied = (403, _status(403, 'pods \\"dcgm-exporter-1\\" is forbidden: User \\"dev\\" cannot get resource'))
    v = _verdict({"h-0": (200, _metrics("h-0")), "h-1": denied})
    assert (v.status, v.reason, condition_status(v)) == ("Partially Implemented", "MetricsNotScraped", "Unknown")
    assert "grant get on pods/proxy in namespace gpu-operator" in v.message and "h-1" in v.message


def test_api_server_refusals_are_unknown_never_not_implemented():
    answers = {
        "h-0": (400, _status(400, "address not allowed")),
        "h-1": (503, _status(503, "error trying to reach service: dial tcp 10.1.0.1:9400: i/o timeout")),
    }
    v = _verdict(answers)
    assert (v.status, v.reason, condition_status(v)) == ("Partially Implemented", "MetricsNotScraped", "Unknown")
    assert "address not allowed" in v.message and "i/o timeout" in v.message


def test_the_exporters_own_error_through_the_proxy_is_a_failed_scrape():
    v = _verdict({"h-0": (200, _metrics("h-0")), "h-1": (500, b"An error has occurred while serving metrics")})
    assert (v.status, v.reason) == ("Not Implemented", "ScrapeFailed")
    assert "10.1.0.1:9400/metrics: HTTP 500" in v.message
