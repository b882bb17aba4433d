"""`dev-cluster up | down | status`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok as
local processes on 127.0.0.1, with RBAC and admission on, and the simulated GPU fleet applied."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiconform.devtools.devcluster import build, controllers, processes, upstream, versions
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.fleet import Pool, apply_fleet
from aiconform.devtools.devcluster.paths import Layout, cluster_dir
from aiconform.devtools.devcluster.pki import Pki, ensure_pki, write_kubeconfig
from aiconform.devtools.devcluster.processes import Proc
from aiconform.kube.client import KubeClient, load_credentials

Progress = Callable[[str], None]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Simulated pods and nodes get loopback addresses: nothing a test follows may leave 127.0.0.0/8.
POD_CIDR = "127.8.0.0/16"
NODE_IP = "127.0.0.2"
SERVICE_CIDR = "10.0.0.0/24"  # required by the API server; no test ever connects to a ClusterIP
ADMISSION = "NodeRestriction,ExtendedResourceToleration"  # on top of the default plugin set
PORT_OWNERS = {
    "etcd-client": "etcd",
    "etcd-peer": "etcd",
    "kube-controller-manager": "kube-controller-manager",
    "kube-scheduler": "kube-scheduler",
    "kwok": "kwok",
}
CLIENTS: dict[str, tuple[str, str | None]] = {
    "admin": ("aiconform-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("aiconform-kwok", "system:masters"),
}


def audit_log(name: str) -> Path:
    """Where the cluster's API server writes its audit log (one JSON event per line)."""
    return Layout(cluster_dir(name)).audit_log


# Who asked for what, at Metadata level (no bodies: nothing secret lands on disk). It lets a benchmark count one
# client's requests by user agent, which `apiserver_request_total` cannot. Lease renewals (every simulated
# kubelet, every few seconds) are left out: they are most of the volume and nobody's question.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: None
  nonResourceURLs: [/healthz*, /livez*, /readyz*, /version, /metrics]
- level: Metadata
"""


def _load_state(layout: Layout) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(layout.state_file.read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


def _admin_ssl(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    crt, key = pki.client("admin")
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def _insecure_ssl() -> ssl.SSLContext:
    # Component health endpoints serve self-signed certs; /healthz carries no secrets.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _ports(layout: Layout, api_port: int, procs: dict[str, Proc]) -> dict[str, int]:
    """Keep the ports of an earlier `up` (etcd remembers its URLs); pick new free ones for the rest."""
    saved: dict[str, int] = _load_state(layout).get("ports", {})
    ports: dict[str, int] = {"kube-apiserver": api_port}
    for key, owner in PORT_OWNERS.items():
        port = saved.get(key)
        if port and (processes.port_free(port) or procs[owner].running()):
            ports[key] = port
        else:
            ports[key] = processes.free_port()
    return ports


def _controller_args(kubeconfig: Path, port: int) -> list[str]:
    """What the controller manager and the scheduler share: one identity, no leader election, loopback."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
    ]


def _args(name: str, layout: Layout, ports: dict[str, int]) -> list[str]:
    pki = layout.pki
    if name == "etcd":
        return [
            "--name=aiconform-dev",
            f"--data-dir={layout.root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd-client']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd-client']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=aiconform-dev=http://127.0.0.1:{ports['etcd-peer']}",
            "--unsafe-no-fsync=true",  # a throwaway test cluster: speed over durability
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ]
    if name == "kube-apiserver":
        return [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd-client']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--tls-cert-file={pki.serving_crt}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_crt}",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={ADMISSION}",
            "--allow-privileged=true",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The API server would publish 127.0.0.1 as the `kubernetes` Endpoints, which validation forbids.
            "--endpoint-reconciler-type=none",
            "--max-requests-inflight=800",
            "--max-mutating-requests-inflight=400",
            "--profiling=false",
            f"--audit-policy-file={layout.root / 'audit-policy.yaml'}",
            f"--audit-log-path={layout.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=200",  # MB, then rotated
            "--audit-log-maxbackup=1",
        ]
    if name == "kube-controller-manager":
        return [
            *_controller_args(layout.component_kubeconfig("controller-manager"), ports[name]),
            f"--root-ca-file={pki.ca_crt}",
            f"--service-account-private-key-file={pki.sa_key}",
            "--use-service-account-credentials=true",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        ]
    if name == "kube-scheduler":
        return _controller_args(layout.component_kubeconfig("scheduler"), ports[name])
    if name == "kwok":
        return [
            f"--config={layout.root / 'kwok-stages.yaml'}",
            f"--kubeconfig={layout.component_kubeconfig('kwok')}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            f"--cidr={POD_CIDR}",
            f"--node-ip={NODE_IP}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ]
    raise ValueError(name)


KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


def _write_kwok_stages(layout: Layout) -> None:
    """kwok v0.8 needs its Stage documents in a config file; take them from its module, never from this repo."""
    root = upstream.module_dir("sigs.k8s.io/kwok", f"v{versions.KWOK}") / "kustomize" / "stage"
    docs = [(root / rel).read_text() for rel in KWOK_STAGES]
    (layout.root / "kwok-stages.yaml").write_text("\n---\n".join(d.strip() for d in docs) + "\n")


def _probe(name: str, layout: Layout, ports: dict[str, int], api_ctx: ssl.SSLContext) -> Callable[[], bool]:
    if name == "etcd":
        return lambda: processes.http_ok(f"http://127.0.0.1:{ports['etcd-client']}/health")
    if name == "kube-apiserver":
        return lambda: processes.http_ok(f"https://127.0.0.1:{ports['kube-apiserver']}/readyz", api_ctx)
    if name == "kwok":
        return lambda: processes.http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz")
    return lambda: processes.http_ok(f"https://127.0.0.1:{ports[name]}/healthz", _insecure_ssl())


def _procs(layout: Layout, binaries: dict[str, Path]) -> dict[str, Proc]:
    return {name: layout.proc(name, binaries[name]) for name in COMPONENTS}


def _binaries_from_state(layout: Layout) -> dict[str, Path]:
    return {k: Path(v) for k, v in _load_state(layout).get("binaries", {}).items()}


def up(name: str, api_port: int, pools: list[Pool], progress: Progress, with_controllers: Sequence[str] = ()) -> Path:
    """Idempotent: builds what is missing, starts what is not running, (re)applies the fleet, then starts the
    real controllers named in `with_controllers` (controllers.py) that do not run yet."""
    started = time.monotonic()
    layout = Layout(cluster_dir(name))
    layout.root.mkdir(parents=True, exist_ok=True)
    binaries = build.build_all(progress)
    procs = _procs(layout, binaries)
    state = _load_state(layout)
    if state.get("ports", {}).get("kube-apiserver") not in (None, api_port) and procs["kube-apiserver"].running():
        raise DevClusterError(
            "check port",
            f"cluster {name!r} already runs on port "
            f"{state['ports']['kube-apiserver']}; run `down` first to move it to {api_port}",
        )
    if not procs["kube-apiserver"].running() and not processes.port_free(api_port):
        raise DevClusterError(
            "check port", f"127.0.0.1:{api_port} is in use by another process; free it or pass --port"
        )
    ports = _ports(layout, api_port, procs)
    pki = ensure_pki(layout.root / "pki", CLIENTS)
    server = f"https://127.0.0.1:{api_port}"
    write_kubeconfig(layout.kubeconfig, server, pki, "admin", f"aiconform-{name}")
    for client in ("controller-manager", "scheduler", "kwok"):
        write_kubeconfig(layout.component_kubeconfig(client), server, pki, client, f"aiconform-{name}")
    layout.state_file.write_text(
        json.dumps(
            {
                "ports": ports,
                "binaries": {k: str(v) for k, v in binaries.items()},
                "kubernetes": versions.KUBERNETES,
                "etcd": versions.ETCD,
                "kwok": versions.KWOK,
            },
            indent=2,
        )
    )
    api_ctx = _admin_ssl(pki)
    _write_kwok_stages(layout)
    (layout.root / "audit-policy.yaml").write_text(AUDIT_POLICY)
    for component in COMPONENTS:
        proc = procs[component]
        if proc.running():
            continue
        progress(f"starting {component}")
        processes.start(proc, _args(component, layout, ports))
        processes.wait_for(f"start {component}", proc, _probe(component, layout, ports, api_ctx), timeout=90)
    asyncio.run(_apply_fleet(layout, pools, progress))
    if with_controllers:
        controllers.start_controllers(layout.root, with_controllers, progress)
    progress(f"dev cluster {name!r} up in {time.monotonic() - started:.1f}s (Kubernetes v{versions.KUBERNETES})")
    return layout.kubeconfig


async def _apply_fleet(layout: Layout, pools: list[Pool], progress: Progress) -> None:
    async with KubeClient(load_credentials(layout.kubeconfig), concurrency=48) as kube:
        await _wait_default_namespace(kube)
        await apply_fleet(kube, pools, progress)


async def _wait_default_namespace(kube: KubeClient, timeout: float = 30) -> None:
    """The API server creates `default` asynchronously after it reports ready."""
    deadline = time.monotonic() + timeout
    while await kube.get("/api/v1/namespaces/default") is None:
        if time.monotonic() > deadline:
            raise DevClusterError("wait for namespace default", "not created by the API server")
        await asyncio.sleep(0.2)


def down(name: str, purge: bool, progress: Progress) -> int:
    layout = Layout(cluster_dir(name))
    binaries = _binaries_from_state(layout)
    # The controllers first, while their API server still answers; their finalizers stay with the cluster.
    stopped = len(controllers.stop_controllers(layout.root, progress=progress, release=False))
    for component in reversed(COMPONENTS):
        if component not in binaries:
            continue
        if processes.stop(layout.proc(component, binaries[component])):
            progress(f"stopped {component}")
            stopped += 1
    if purge and layout.root.exists():
        shutil.rmtree(layout.root)
        progress(f"removed {layout.root}")
    return stopped


def status(name: str) -> dict[str, Any]:
    layout = Layout(cluster_dir(name))
    state = _load_state(layout)
    binaries = _binaries_from_state(layout)
    ports: dict[str, int] = state.get("ports", {})
    comps: dict[str, Any] = {}
    for component in COMPONENTS:
        proc = layout.proc(component, binaries.get(component, Path(component)))
        pid = proc.pid() if component in binaries else None
        port = ports.get("etcd-client" if component == "etcd" else component)
        comps[component] = {"running": pid is not None, "pid": pid, "port": port}
    running = all(c["running"] for c in comps.values())
    return {
        "name": name,
        "running": running,
        "kubeconfig": str(layout.kubeconfig) if layout.kubeconfig.exists() else None,
        "kubernetes": state.get("kubernetes"),
        "components": comps,
        "controllers": controllers.controllers_status(layout.root),
    }
