"""Real upstream controllers next to the dev control plane: Kueue and the KEDA operator.

    aiconform dev-cluster up --with kueue,keda          # builds on first use, installs their CRDs, starts them
    start_controllers(cluster_dir, ["kueue", "keda"])   # the same from Python on a running cluster (tests)
    stop_controllers(cluster_dir)                       # stops them, releases the finalizers they left

They are built from their Go modules and cached by version like the control plane (build.py), and run as local
processes against the dev API server, each with a client certificate of the cluster's PKI (in system:masters, like
kwok). Every listener binds 127.0.0.1 on a free port. Each also gets an HTTP(S) proxy on loopback that refuses
connections: a request to any non-loopback host (a KEDA scaler pointed at `prometheus.monitoring.svc`) fails on
127.0.0.1 instead of resolving the name, so the network rule holds whatever the objects in the cluster say.

Their admission webhooks are not registered with the API server. Kueue's would default and validate its objects
and suspend a new Job that names a queue; without them a Job must be created suspended, as the webhook would have
made it. Their servers still run (Kueue's readiness waits for its webhook server) with a certificate from the
cluster's CA for 127.0.0.1, so registering them would only take URL-style webhook configurations.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from aiconform.devtools.devcluster import build, processes, upstream, versions
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.paths import Layout
from aiconform.devtools.devcluster.pki import Pki, ensure_pki, ensure_serving_cert, write_kubeconfig
from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError, load_credentials

Progress = Callable[[str], None]
FIELD_MANAGER = "aiconform-devcluster"
# With its internal cert management off, Kueue v0.19 reads its metrics serving certificate from this fixed path
# (cmd/kueue/main.go); no flag or configuration field moves it.
KUEUE_METRICS_CERT_DIR = Path("/etc/kueue/metrics/certs")
# Nothing listens on port 1 of loopback: a proxied request is refused at once and never leaves 127.0.0.0/8.
REFUSING_PROXY = "http://127.0.0.1:1"
NO_PROXY = "127.0.0.1,localhost"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Controller:
    name: str
    version: str
    binary: str  # its file name in the cache's bin directory
    crd_set: str  # upstream.CRD_SETS key
    namespace: str  # where it runs in a real cluster: created, and named in its configuration
    service: str  # its Service there, a SAN of its serving certificate
    ports: tuple[str, ...]  # the listeners it gets, each on 127.0.0.1
    finalizer_prefix: str  # of the finalizers it puts on objects

    @property
    def user(self) -> str:
        """Common name of its client certificate, as the audit log shows it."""
        return f"aiconform-{self.name}"


CONTROLLERS: Mapping[str, Controller] = MappingProxyType(
    {
        "kueue": Controller(
            name="kueue",
            version=versions.KUEUE,
            binary="kueue",
            crd_set="kueue",
            namespace="kueue-system",
            service="kueue-webhook-service",
            ports=("health", "metrics", "webhook"),
            finalizer_prefix="kueue.x-k8s.io/",
        ),
        "keda": Controller(
            name="keda",
            version=versions.KEDA,
            binary="keda",
            crd_set="keda",
            namespace="keda",
            service="keda-operator",
            ports=("health", "metrics", "grpc"),
            finalizer_prefix="finalizer.keda.sh",
        ),
    }
)


def parse_controllers(spec: str) -> list[str]:
    """`kueue,keda` (or `all`) → names in a fixed order; an unknown name is an error that lists the known ones."""
    names = list(CONTROLLERS) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in CONTROLLERS]
    if unknown or not names:
        raise DevClusterError(
            "select controllers",
            f"unknown controller(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CONTROLLERS)}",
        )
    return [n for n in CONTROLLERS if n in names]


# --- what each process gets (pure) ---------------------------------------------------------------------------


def loopback(port: int) -> str:
    return f"127.0.0.1:{port}"


def kueue_config(ports: Mapping[str, int], webhook_cert_dir: Path) -> dict[str, Any]:
    """Kueue's Configuration: no leader election; no internal cert management (it would wait to inject its CA
    into webhook configurations and CRD conversion stanzas that are not there); every server on loopback; only
    the batch/job integration, for Jobs that name a queue."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": CONTROLLERS["kueue"].namespace,
        "health": {"healthProbeBindAddress": loopback(ports["health"])},
        "metrics": {"bindAddress": loopback(ports["metrics"])},
        "webhook": {"host": "127.0.0.1", "port": ports["webhook"], "certDir": str(webhook_cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
    }


def kueue_args(kubeconfig: Path, config: Path) -> list[str]:
    # VisibilityOnDemand would start the visibility API server: it wants /visibility/tls.crt and an APIService,
    # which cannot point at loopback.
    return [f"--kubeconfig={kubeconfig}", f"--config={config}", "--feature-gates=VisibilityOnDemand=false"]


def keda_args(kubeconfig: Path, cert_dir: Path, ports: Mapping[str, int]) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--cert-dir={cert_dir}",  # ca.crt, tls.crt, tls.key of its metrics gRPC service
        f"--ca-dir={cert_dir}",  # CAs its scalers trust (default /custom/ca)
        f"--health-probe-bind-address={loopback(ports['health'])}",
        f"--metrics-bind-address={loopback(ports['metrics'])}",
        f"--metrics-service-bind-address={loopback(ports['grpc'])}",
        "--enable-webhook-patching=false",
        "--enable-apiservice-patching=false",
        "--enable-cert-rotation=false",
    ]


def process_env(name: str, base: Mapping[str, str]) -> dict[str, str]:
    """A small environment: PATH, HOME and locale from `base`, the refusing proxy, KEDA's namespaces. No
    KUBECONFIG: the kubeconfig is a flag, so a caller's $KUBECONFIG never points a controller at another cluster."""
    env = {k: base[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in base}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[key] = REFUSING_PROXY
    env["NO_PROXY"] = env["no_proxy"] = NO_PROXY
    if name == "keda":
        ns = CONTROLLERS["keda"].namespace
        env |= {"KEDA_CLUSTER_OBJECT_NAMESPACE": ns, "POD_NAMESPACE": ns, "WATCH_NAMESPACE": ""}
    return env


def serving_sans(ctl: Controller) -> tuple[list[str], list[str]]:
    """(DNS names, IPs) of a controller's serving certificate: loopback, and its Service in a real cluster."""
    svc = f"{ctl.service}.{ctl.namespace}.svc"
    return ["localhost", svc, f"{svc}.cluster.local"], ["127.0.0.1"]


# --- files in the cluster directory -------------------------------------------------------------------------


def _dir(layout: Layout, name: str) -> Path:
    return layout.root / "controllers" / name


def _state_file(layout: Layout) -> Path:
    return layout.root / "controllers.json"


def _load(layout: Layout) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_state_file(layout).read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


def _save(layout: Layout, data: Mapping[str, Any]) -> None:
    partial = _state_file(layout).with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True))
    partial.replace(_state_file(layout))


def _install_pair(pair: tuple[Path, Path], directory: Path) -> None:
    """tls.crt and tls.key into `directory`, each written aside and renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    for source, target in zip(pair, ("tls.crt", "tls.key"), strict=True):
        partial = directory / f".{target}.partial"
        partial.write_bytes(source.read_bytes())
        partial.chmod(0o600 if target.endswith(".key") else 0o644)
        partial.replace(directory / target)


def ensure_kueue_metrics_cert(pki: Pki, directory: Path = KUEUE_METRICS_CERT_DIR) -> None:
    """A key pair where Kueue looks for one. An existing pair is kept: nothing verifies it (the dev cluster never
    scrapes Kueue's metrics), and the clusters of one machine share the path."""
    if (directory / "tls.crt").is_file() and (directory / "tls.key").is_file():
        return
    dns, ips = serving_sans(CONTROLLERS["kueue"])
    pair = ensure_serving_cert(pki, "kueue-metrics", "kueue-metrics", dns, ips)
    try:
        _install_pair(pair, directory)
    except OSError as exc:
        raise DevClusterError(
            "prepare Kueue metrics certificate",
            f"Kueue {versions.KUEUE} reads its metrics certificate from the fixed path {directory} (no flag or "
            f"setting moves it), which cannot be written ({exc.strerror or exc}); create it once with "
            f"`sudo install -d -o $USER {directory}`",
        ) from None


def _prepare(layout: Layout, pki: Pki, ctl: Controller, ports: Mapping[str, int]) -> list[str]:
    """Certificates and configuration of one controller; returns its command line arguments."""
    home = _dir(layout, ctl.name)
    certs = home / "certs"
    dns, ips = serving_sans(ctl)
    _install_pair(ensure_serving_cert(pki, f"{ctl.name}-serving", ctl.service, dns, ips), certs)
    kubeconfig = layout.component_kubeconfig(ctl.name)
    if ctl.name == "kueue":
        ensure_kueue_metrics_cert(pki)
        config = home / "config.yaml"
        config.write_text(yaml.safe_dump(kueue_config(ports, certs), sort_keys=False))
        return kueue_args(kubeconfig, config)
    (certs / "ca.crt").write_bytes(pki.ca_crt.read_bytes())
    return keda_args(kubeconfig, certs, ports)


# --- start, stop, status ------------------------------------------------------------------------------------


def _api_server(layout: Layout) -> str:
    try:
        port = int(json.loads(layout.state_file.read_text())["ports"]["kube-apiserver"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DevClusterError(
            "start controllers", f"no dev cluster in {layout.root}; run `aiconform dev-cluster up` first"
        ) from None
    if processes.port_free(port):
        raise DevClusterError(
            "start controllers", f"the API server of {layout.root} is not running; run `aiconform dev-cluster up`"
        )
    return f"https://127.0.0.1:{port}"


async def _install(layout: Layout, names: Sequence[str]) -> None:
    """Their CRDs (server-side apply: idempotent) and namespaces."""
    async with KubeClient(load_credentials(layout.kubeconfig)) as kube:
        await upstream.install(kube, [CONTROLLERS[n].crd_set for n in names])
        for name in names:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CONTROLLERS[name].namespace}}
            await kube.apply(ns, field_manager=FIELD_MANAGER)


def start_controllers(root: Path, names: Sequence[str], progress: Progress = build._stderr_progress) -> list[str]:
    """Start the named controllers that do not run yet on the running dev cluster whose directory is `root`;
    builds them on first use and installs their CRDs. Idempotent; returns the names this call started."""
    layout = Layout(root)
    names = parse_controllers(",".join(names))
    server = _api_server(layout)
    binaries = build.build_controllers(names, progress)
    pki = ensure_pki(layout.root / "pki", {n: (CONTROLLERS[n].user, "system:masters") for n in names})
    asyncio.run(_install(layout, names))
    started: list[str] = []
    for name in names:
        ctl = CONTROLLERS[name]
        proc = layout.proc(name, binaries[name])
        if proc.running():
            continue
        write_kubeconfig(layout.component_kubeconfig(name), server, pki, name, f"aiconform-{layout.root.name}")
        ports = {p: processes.free_port() for p in ctl.ports}
        args = _prepare(layout, pki, ctl, ports)
        progress(f"starting {name} {ctl.version}")
        processes.start(proc, args, env=process_env(name, os.environ))
        state = _load(layout)
        state[name] = {"binary": str(binaries[name]), "version": ctl.version, "ports": ports}
        _save(layout, state)
        ready = f"http://{loopback(ports['health'])}/readyz"
        processes.wait_for(f"start {name}", proc, lambda url=ready: processes.http_ok(url), timeout=START_TIMEOUT)
        started.append(name)
    return started


def stop_controllers(
    root: Path,
    names: Sequence[str] | None = None,
    progress: Progress = build._stderr_progress,
    *,
    release: bool = True,
) -> list[str]:
    """Stop the named controllers (default: every one started in `root`). With `release` and the API server up,
    also release the finalizers they left on objects (release_finalizers). Returns the names stopped."""
    layout = Layout(root)
    state = _load(layout)
    stopped: list[str] = []
    for name in list(state) if names is None else names:
        entry = state.pop(name, None)
        if entry is None or name not in CONTROLLERS:
            continue
        if processes.stop(layout.proc(name, Path(entry["binary"]))):
            progress(f"stopped {name}")
            stopped.append(name)
    if layout.root.is_dir():
        _save(layout, state)
    if release and stopped and layout.kubeconfig.is_file():
        try:
            count = asyncio.run(_release(layout, stopped))
        except (KubeTransportError, OSError):
            count = 0  # the API server is down too: nothing will ever wait on those finalizers
        if count:
            progress(f"released the finalizers {', '.join(stopped)} left on {count} object(s)")
    return stopped


async def _release(layout: Layout, names: Sequence[str]) -> int:
    async with KubeClient(load_credentials(layout.kubeconfig)) as kube:
        return await release_finalizers(kube, names)


async def release_finalizers(kube: KubeClient, names: Iterable[str]) -> int:
    """Remove the finalizers the named (stopped) controllers put on objects: Kueue's resource-in-use on queues,
    flavors and workloads, KEDA's on ScaledObjects. Nobody else removes them, so deleting such an object later
    would hang. Returns how many objects were changed."""
    changed = 0
    for name in names:
        ctl = CONTROLLERS[name]
        for crd in upstream.load_crds(ctl.crd_set):
            spec = crd["spec"]
            version = next(x["name"] for x in spec["versions"] if x.get("storage"))
            collection = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}"
            for obj in await kube.list(collection):
                changed += await _drop_finalizers(kube, collection, obj, ctl.finalizer_prefix)
    return changed


def object_path(collection: str, namespace: str | None, name: str) -> str:
    """/apis/G/V/plural → /apis/G/V/namespaces/NS/plural/NAME, or …/plural/NAME when cluster-scoped."""
    if not namespace:
        return f"{collection}/{name}"
    prefix, plural = collection.rsplit("/", 1)
    return f"{prefix}/namespaces/{namespace}/{plural}/{name}"


def without_finalizers(finalizers: Sequence[str], prefix: str) -> list[str]:
    return [f for f in finalizers if not f.startswith(prefix)]


async def _drop_finalizers(kube: KubeClient, collection: str, obj: Mapping[str, Any], prefix: str) -> int:
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    keep = without_finalizers(finalizers, prefix)
    if keep == finalizers:
        return 0
    path = object_path(collection, meta.get("namespace"), meta["name"])
    # resourceVersion makes the merge patch conditional: a concurrent change means reading it again.
    body = {"metadata": {"finalizers": keep, "resourceVersion": meta["resourceVersion"]}}
    try:
        await kube.request("PATCH", path, body=body, content_type="application/merge-patch+json", ok_missing=True)
    except KubeApiError as exc:
        if exc.status != 409:
            raise
        fresh = await kube.get(path)
        return 0 if fresh is None else await _drop_finalizers(kube, collection, fresh, prefix)
    return 1


def controllers_status(root: Path) -> dict[str, Any]:
    """Per controller started in `root`: running, pid, version, ports, log."""
    layout = Layout(root)
    out: dict[str, Any] = {}
    for name, entry in sorted(_load(layout).items()):
        if name not in CONTROLLERS:
            continue
        proc = layout.proc(name, Path(entry["binary"]))
        pid = proc.pid()
        out[name] = {
            "running": pid is not None,
            "pid": pid,
            "version": entry.get("version"),
            "ports": entry.get("ports", {}),
            "log": str(proc.log_file),
        }
    return out
