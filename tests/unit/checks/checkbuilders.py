"""Small builders of API objects and snapshots for the check tests (plain dicts, as the API server returns them).

Imported by the test modules of this directory as `checkbuilders` (pytest puts the directory on sys.path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.kube.snapshot import MetricSample, Scrape, Snapshot

GPU_LABELS = {"nvidia.com/gpu.present": "true"}
DRA_SERVED = frozenset(
    f"resource.k8s.io/v1/{r}" for r in ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices")
)
HPA_SERVED = frozenset({"autoscaling/v2/horizontalpodautoscalers"})
UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_USED = "DCGM_FI_DEV_FB_USED"

Obj = dict[str, Any]


def cond(type_: str, status: str = "True", reason: str = "", message: str = "") -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def metadata(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Obj:
    out: Obj = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    return out


def obj(
    kind: str,
    name: str,
    namespace: str | None = None,
    spec: Obj | None = None,
    conditions: Sequence[Obj] = (),
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """A generic (custom) object with optional status conditions."""
    out: Obj = {"kind": kind, "metadata": metadata(name, namespace, labels), "spec": spec or {}}
    if conditions:
        out["status"] = {"conditions": list(conditions)}
    return out


def namespace(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    return obj("Namespace", name, labels=labels)


def tenant(name: str, **extra: str) -> Obj:
    return namespace(name, {"aiconform.io/tenant": "true", **extra})


def node(
    name: str,
    labels: Mapping[str, str] | None = None,
    allocatable: Mapping[str, str] | None = None,
    ready: bool = True,
) -> Obj:
    """A Node; its kubelet reports it Ready unless `ready=False` (then what it advertises is stale)."""
    alloc = dict(allocatable or {})
    return {
        "kind": "Node",
        "metadata": metadata(name, labels=labels),
        "status": {"allocatable": alloc, "capacity": alloc, "conditions": [cond("Ready", str(ready))]},
    }


def gpu_node(
    name: str,
    product: str = "NVIDIA-H100-80GB-HBM3",
    gpus: int = 2,
    driver: str | None = "550.90.07",
    allocatable: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    ready: bool = True,
) -> Obj:
    """A GPU node labelled like GPU Feature Discovery does, plus `labels`."""
    node_labels = {
        **GPU_LABELS,
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.sharing-strategy": "none",
        "nvidia.com/mig.capable": "false",
    }
    if driver is not None:
        node_labels["nvidia.com/cuda.driver-version.full"] = driver
    node_labels.update(labels or {})
    return node(name, node_labels, allocatable or {"nvidia.com/gpu": str(gpus)}, ready)


def gpu_uuid(node_name: str, index: int) -> str:
    return f"GPU-{node_name}-{index}"


def device(name: str, **attributes: Any) -> Obj:
    """A DRA device; attribute values: str → string, tuple ("version", v) → version, int → int, bool → bool."""
    attrs: Obj = {}
    for key, value in attributes.items():
        if isinstance(value, tuple):
            attrs[key] = {value[0]: value[1]}
        elif isinstance(value, bool):
            attrs[key] = {"bool": value}
        elif isinstance(value, int):
            attrs[key] = {"int": value}
        else:
            attrs[key] = {"string": value}
    return {"name": name, "attributes": attrs}


def gpu_devices(node_name: str, gpus: int = 2, driver: str = "550.90.7", **extra: Any) -> list[Obj]:
    return [
        device(
            f"gpu-{i}",
            type="gpu",
            uuid=gpu_uuid(node_name, i),
            driverVersion=("version", driver),
            productName="NVIDIA H100 80GB HBM3",
            **extra,
        )
        for i in range(gpus)
    ]


def rslice(
    node_name: str | None,
    devices: Sequence[Obj],
    driver: str = "gpu.nvidia.com",
    name: str | None = None,
    owned: bool = False,
    node_selector: Obj | None = None,
    all_nodes: bool = False,
) -> Obj:
    """A ResourceSlice for `node_name` (spec.nodeName), or with `node_selector` / `all_nodes` instead; `owned`:
    owned by its Node, as a DRA kubelet plugin publishes it."""
    spec: Obj = {"driver": driver, "pool": {"name": node_name or driver}, "devices": list(devices)}
    if node_name:
        spec["nodeName"] = node_name
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if all_nodes:
        spec["allNodes"] = True
    meta = metadata(name or f"{node_name or 'pool'}-{driver}")
    if owned and node_name:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": f"uid-{node_name}"}]
    return {"kind": "ResourceSlice", "metadata": meta, "spec": spec}


def gpu_slice(node_name: str, gpus: int = 2, driver: str = "550.90.7", owned: bool = False) -> Obj:
    return rslice(node_name, gpu_devices(node_name, gpus, driver), owned=owned)


def device_class(name: str, *expressions: str) -> Obj:
    """A DeviceClass; `expressions`: its CEL selectors (none: it selects every device)."""
    spec = {"selectors": [{"cel": {"expression": e}} for e in expressions]} if expressions else {}
    return obj("DeviceClass", name, spec=spec)


def crd(name: str, established: bool = True, versions: Sequence[str] = ("v1",)) -> Obj:
    return {
        "kind": "CustomResourceDefinition",
        "metadata": metadata(name),
        "spec": {"versions": [{"name": v, "served": True, "storage": i == 0} for i, v in enumerate(versions)]},
        "status": {"conditions": [cond("Established", "True" if established else "False")]},
    }


def crds(*names: str, established: bool = True) -> list[Obj]:
    return [crd(n, established) for n in names]


def deployment(
    ns: str, name: str, labels: Mapping[str, str] | None = None, available: int = 1, replicas: int = 1
) -> Obj:
    return {
        "kind": "Deployment",
        "metadata": metadata(name, ns, labels),
        "spec": {"replicas": replicas},
        "status": {"availableReplicas": available, "replicas": replicas},
    }


def daemonset(ns: str, name: str, labels: Mapping[str, str] | None = None, ready: int = 1, desired: int = 1) -> Obj:
    return {
        "kind": "DaemonSet",
        "metadata": metadata(name, ns, labels),
        "spec": {"selector": {"matchLabels": {"app": name}}},
        "status": {"numberReady": ready, "desiredNumberScheduled": desired},
    }


def container(
    name: str = "main",
    privileged: bool = False,
    env: Mapping[str, str] | None = None,
    limits: Mapping[str, str] | None = None,
    claims: Sequence[str] = (),
) -> Obj:
    out: Obj = {"name": name, "image": "busybox"}
    if privileged:
        out["securityContext"] = {"privileged": True}
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env.items()]
    resources: Obj = {}
    if limits:
        resources["limits"] = dict(limits)
    if claims:
        resources["claims"] = [{"name": c} for c in claims]
    if resources:
        out["resources"] = resources
    return out


def pod(
    ns: str,
    name: str,
    node: str | None = None,
    labels: Mapping[str, str] | None = None,
    containers: Sequence[Obj] | None = None,
    host_paths: Sequence[str] = (),
    phase: str = "Running",
    ready: bool = True,
    owner: tuple[str, str] | None = None,
    ip: str | None = None,
) -> Obj:
    meta = metadata(name, ns, labels)
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1]}]
    spec: Obj = {"containers": list(containers or [container()])}
    if node:
        spec["nodeName"] = node
    if host_paths:
        spec["volumes"] = [{"name": f"v{i}", "hostPath": {"path": p}} for i, p in enumerate(host_paths)]
    status: Obj = {"phase": phase, "conditions": [cond("Ready", "True" if ready else "False")]}
    if ip:
        status["podIP"] = ip
    return {"kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def service(ns: str, name: str) -> Obj:
    return obj("Service", name, ns)


def apiservice(name: str, available: bool = True, message: str = "") -> Obj:
    status = "True" if available else "False"
    return obj(
        "APIService", name, conditions=[cond("Available", status, "" if available else "FailedDiscovery", message)]
    )


def webhook_config(name: str, groups: Sequence[str], svc: tuple[str, str] | None = None, url: str = "") -> Obj:
    client: Obj = {"url": url} if url else {"service": {"namespace": svc[0], "name": svc[1]} if svc else {}}
    hook = {"name": f"{name}.example.io", "clientConfig": client, "rules": [{"apiGroups": list(groups)}]}
    return {"kind": "ValidatingWebhookConfiguration", "metadata": metadata(name), "webhooks": [hook]}


def samples(uuids: Iterable[str], metrics: Sequence[str] = (UTIL, FB_USED)) -> tuple[MetricSample, ...]:
    return tuple(
        MetricSample(m, {"UUID": u, "gpu": str(i), "Hostname": "x"}, 1.0) for m in metrics for i, u in enumerate(uuids)
    )


def scrape(
    node_name: str,
    uuids: Iterable[str],
    metrics: Sequence[str] = (UTIL, FB_USED),
    ok: bool = True,
    error: str = "",
    target: str | None = None,
) -> Scrape:
    return Scrape(
        target or f"10.0.0.{sum(map(ord, node_name)) % 250}:9400/metrics",
        node_name,
        ok,
        error,
        samples(uuids, metrics) if ok else (),
    )


def snap(**fields: Any) -> Snapshot:
    """A Snapshot; list values become tuples, `custom` values too."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "custom":
            out[key] = {k: tuple(v) for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    return Snapshot(**out)


def profile(**spec: Any) -> ProfileSpec:
    """A ProfileSpec from camelCase keys, as written in a manifest."""
    return ProfileSpec.model_validate(spec)
