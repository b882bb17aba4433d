"""e2e: `aiconform check` scrapes DCGM exporters through the real API server's pod proxy, as kubectl does.

A DCGM exporter DaemonSet runs a simulated pod on every GPU node of the dev fleet; their pod IPs are loopback
(127.8.0.0/16) and one of them is served by this process. What the real API server does with them is what a user
would see:
- The pod proxy (`/api/v1/namespaces/<ns>/pods/<name>:<port>/proxy/metrics`) is authorized as `get` on
  `pods/proxy`: a user without it is refused (403) and the verdict is Unknown, naming that permission; with it
  (the RBAC docs/check.md documents) the request passes authorization and reaches the pod lookup.
- The API server then refuses to proxy to a pod IP that is not global unicast ("address not allowed", its guard
  against reaching its own host). That is why no 200 can come back through it here: every proxy path of the API
  server refuses loopback (pods/proxy by that guard, services/proxy because an EndpointSlice may not hold a
  loopback address, nodes/proxy by the same guard), and these tests reach nothing outside 127.0.0.0/8. The 200
  path over a real connection is tests/unit/test_scrape_proxy.py.
- Direct scrapes (`--scrape direct`, the operator's way) reach the served pod and fail to connect to the others:
  Unknown (MetricsNotScraped), never Not Implemented.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import AICONFORM, Cluster

pytestmark = pytest.mark.e2e

ID = "accelerator_metrics"


def _check(kubeconfig: str, *extra: str) -> dict[str, Any]:
    """`aiconform check -o json`; the accelerator_metrics row."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    cmd = [*AICONFORM, "check", "--kubeconfig", kubeconfig, "-o", "json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False, env=env)
    assert out.returncode in (0, 1), out.stderr
    row: dict[str, Any] = next(r for r in json.loads(out.stdout)["requirements"] if r["id"] == ID)
    return row


class _Exporter(http.server.BaseHTTPRequestHandler):
    """A DCGM exporter's /metrics (`body`: the node's GPUs); records who asked."""

    agents: list[str] = []
    body = b""

    def do_GET(self) -> None:
        type(self).agents.append(self.headers.get("User-Agent", ""))
        body = type(self).body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Exporters:
    namespace: str
    served: str  # "podIP:port" of the pod this process serves
    node: str  # its node


def _metrics_of(cluster: Cluster, node: str) -> bytes:
    """Utilization and memory for every GPU the node's ResourceSlices publish, as DCGM labels them: whole GPUs by
    their uuid, MIG'd ones by their MIG devices' parentUUID (an A100 node has both; which node serves is the
    first pod's, so both kinds must be right)."""
    uuids: list[str] = []
    for rs in cluster.get_json("resourceslices")["items"]:
        if rs["spec"].get("nodeName") != node:
            continue
        for dev in rs["spec"].get("devices") or []:
            attrs = dev.get("attributes", {})
            kind = attrs.get("type", {}).get("string")
            uid = (
                attrs.get("uuid" if kind == "gpu" else "parentUUID", {}).get("string")
                if kind in ("gpu", "mig")
                else None
            )
            if uid and uid not in uuids:
                uuids.append(str(uid))
    assert uuids, f"no GPU devices published for {node}"
    lines = [
        f'{metric}{{gpu="{i}",UUID="{u}",Hostname="{node}"}} {value}'
        for metric, value in (("DCGM_FI_DEV_GPU_UTIL", 37), ("DCGM_FI_DEV_FB_USED", 1024))
        for i, u in enumerate(uuids)
    ]
    return ("\n".join(lines) + "\n").encode()


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporters(cluster: Cluster) -> Iterator[Exporters]:
    ns = f"aiconform-e2e-proxy-{uuid.uuid4().hex[:6]}"
    port = _free_loopback_port()
    gpu_nodes = [
        n["metadata"]["name"]
        for n in cluster.get_json("nodes")["items"]
        if n["metadata"].get("labels", {}).get("nvidia.com/gpu.present") == "true"
    ]
    assert gpu_nodes, "the dev fleet has no GPU nodes"
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "dcgm-exporter", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": "e2e-dcgm"}},
            "template": {
                "metadata": {"labels": {"app": "e2e-dcgm"}},
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.present": "true"},
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "exporter",
                            "image": "nvcr.io/nvidia/k8s/dcgm-exporter:4.1.1-4.0.4-ubuntu22.04",
                            "ports": [{"name": "metrics", "containerPort": port}],
                        }
                    ],
                },
            },
        },
    }
    # `check` judges every exporter in the cluster: an earlier test's (its namespace still terminating) would
    # answer for some nodes. Wait them out (bounded) rather than judge a mixture.
    left: list[list[str]] = [[]]

    def none_left() -> bool:
        left[0] = _exporter_pods(cluster)
        return not left[0]

    try:
        cluster.wait_for("no other DCGM exporter left", none_left, timeout=120)
    except AssertionError:
        raise AssertionError(f"an earlier test left DCGM exporters behind: {left[0][:5]}") from None
    cluster.kubectl("create", "namespace", ns)
    _Exporter.agents.clear()
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(ds))

        def running() -> list[tuple[str, str]] | None:
            items = cluster.get_json("pods", "-n", ns)["items"]
            up = [
                (p["status"].get("podIP"), p["spec"].get("nodeName"))
                for p in items
                if p["status"].get("phase") == "Running"
            ]
            return (
                [(str(ip), str(n)) for ip, n in up] if len(up) == len(gpu_nodes) and all(ip for ip, _ in up) else None
            )

        pods = cluster.wait_for("an exporter pod Running on every GPU node", running, timeout=90)
        ip, node = pods[0]
        assert all(i.startswith("127.") for i, _ in pods), f"pod IPs {pods} are not loopback; refusing to serve on one"
        _Exporter.body = _metrics_of(cluster, node)
        server = http.server.HTTPServer((ip, port), _Exporter)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Exporters(ns, f"{ip}:{port}", node)
        finally:
            server.shutdown()
            server.server_close()
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=120s", check=False)


def _exporter_pods(cluster: Cluster) -> list[str]:
    """What the check would take for a DCGM exporter anywhere in the cluster: DaemonSets by its rule (name or
    labels) and pods running an exporter image, as `kind namespace/name`."""
    sets = [
        f"DaemonSet {d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in cluster.get_json("daemonsets", "-A")["items"]
        if "dcgm-exporter" in d["metadata"]["name"]
        or (d["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "dcgm-exporter"
        or (d["metadata"].get("labels") or {}).get("app") == "nvidia-dcgm-exporter"
    ]
    pods = [
        f"Pod {p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in cluster.get_json("pods", "-A")["items"]
        if any("dcgm-exporter" in c.get("image", "") for c in p["spec"].get("containers", []))
    ]
    return sets + pods


def test_proxy_scrape_goes_through_the_api_server_and_its_refusal_is_unknown(
    cluster: Cluster, exporters: Exporters
) -> None:
    # Outside the cluster (a kubeconfig), `auto` scrapes through the API server's pod proxy: the served pod sees
    # nothing, the API server refuses every loopback pod IP, and that is no scrape, not a failed exporter.
    for flags in ((), ("--scrape", "proxy")):
        row = _check(cluster.kubeconfig, *flags)
        assert (row["status"], row["reason"]) == ("Partially Implemented", "MetricsNotScraped"), row
        assert (
            "API server proxy (HTTP 400): address not allowed; it proxies only to global unicast pod IPs"
            in (row["message"])
        )
    assert _Exporter.agents == []

    # Direct (the operator's way, or `check` in a pod): the served pod answers, the others refuse the connection:
    # still Unknown, never Not Implemented.
    row = _check(cluster.kubeconfig, "--scrape", "direct")
    assert (row["status"], row["reason"]) == ("Partially Implemented", "MetricsNotScraped"), row
    assert "could not be reached" in row["message"] and "Connect" in row["message"]
    # The served pod answered for every GPU of its node: that node is verified, the others are unknown.
    assert f"scrape {exporters.served}/metrics ({exporters.node})" in " ".join(row["evidence"]), row
    assert exporters.served not in row["message"]
    assert len(_Exporter.agents) == 1 and _Exporter.agents[0].startswith("aiconform-check/")

    # --no-scrape wins over --scrape.
    _Exporter.agents.clear()
    row = _check(cluster.kubeconfig, "--scrape", "direct", "--no-scrape")
    assert row["reason"] == "MetricsNotScraped" and _Exporter.agents == []


def test_without_pods_proxy_the_verdict_names_the_permission(
    cluster: Cluster, exporters: Exporters, operator_kubeconfig: str
) -> None:
    # The Helm chart's identity reads everything `check` reads, but the operator scrapes directly: no pods/proxy.
    row = _check(operator_kubeconfig, "--scrape", "proxy")
    assert (row["status"], row["reason"]) == ("Partially Implemented", "MetricsNotScraped"), row
    assert f"(HTTP 403): forbidden, grant get on pods/proxy in namespace {exporters.namespace}" in row["message"]

    # The RBAC docs/check.md documents (get on pods/proxy, here as a Role in the exporter's namespace) is what the
    # API server asks: authorization passes and the request reaches the pod lookup (then the loopback refusal).
    sa = ("system:serviceaccount:",)
    whoami = json.loads(
        subprocess.run(
            [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={operator_kubeconfig}", "auth", "whoami", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    user = str(whoami["status"]["userInfo"]["username"])
    assert user.startswith(sa[0]), user
    sa_ns, sa_name = user.removeprefix(sa[0]).split(":", 1)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "aiconform-check-scrape", "namespace": exporters.namespace},
        "rules": [{"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "aiconform-check-scrape", "namespace": exporters.namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "aiconform-check-scrape"},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}],
    }
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})
    )

    def granted() -> dict[str, Any] | None:
        row = _check(operator_kubeconfig, "--scrape", "proxy")
        return None if "HTTP 403" in row["message"] else row

    row = cluster.wait_for("the pods/proxy grant to take effect", granted, timeout=60, interval=1.0)
    assert (row["status"], row["reason"]) == ("Partially Implemented", "MetricsNotScraped"), row
    assert "address not allowed" in row["message"] and "HTTP 403" not in row["message"]
    assert _Exporter.agents == []
