"""DCGM exporter: per-GPU metrics (utilization, memory, temperature, power, XID errors...) for Prometheus, which
the accelerator_metrics requirement asks for and SREs alert on.

Objects, all in `spec.components.dcgmExporter.namespace` (default `aiconform-dcgm`):
- the Namespace itself, which we create and own, labelled Pod Security `privileged` (the exporter needs
  SYS_ADMIN and a host path, which `baseline` and `restricted` forbid). If a namespace of that name exists and
  is not ours, only the label is set, as a field patch, and a note says so;
- ServiceAccount `dcgm-exporter` (no API token: the exporter reads kubelet's pod-resources socket, not the API);
- ConfigMap `dcgm-exporter-metrics` with the collectors CSV (dcgm-exporter's `default-counters.csv` format:
  `DCGM field, Prometheus type, help`): a base set (GPU and memory-copy utilization, framebuffer used/free, GPU
  temperature, power) plus one group per `collectors` entry: xid (last XID error), nvlink (bandwidth), profiling
  (DCP `PROF_*` ratios, which also stand in for utilization on MIG), ecc (volatile/aggregate ECC errors and row
  remapping), power (energy, throttling), clocks (SM/memory clocks and throttle reasons);
- DaemonSet `dcgm-exporter` on the accelerator nodes (`nodeSelector` from the spec, else the accelerator
  selector's matchLabels, with its matchExpressions as node affinity; the spec's tolerations), running the
  spec's image with `-f <csv>`, listening on the spec's port (container port named `metrics`), the ConfigMap
  mounted at /etc/dcgm-exporter/aiconform (not over the image's own /etc/dcgm-exporter);
- Service `dcgm-exporter` (port named `metrics`);
- ServiceMonitor `dcgm-exporter` (monitoring.coreos.com/v1), only when its CRD is Established; otherwise a note.

Brownfield: when the platform already runs an exporter (a DaemonSet not ours named `nvidia-dcgm-exporter`, the
GPU Operator's, or running a `dcgm-exporter` image), or a GPU Operator ClusterPolicy (nvidia.com/v1) has
`spec.dcgmExporter.enabled: true`, none of the objects above is made (what we made before is pruned): a second
exporter on every GPU node would fight the first for the GPUs' profiling counters and double every series.
The platform's exporter is verified instead:
- its collectors, from the counters CSV its container is given (`-f`/`--collectors`, env
  `DCGM_EXPORTER_COLLECTORS`, default `/etc/dcgm-exporter/default-counters.csv`): the CSVs built into the
  dcgm-exporter image are known (BUILTIN_CSVS); a CSV from a ConfigMap (ClusterPolicy
  `spec.dcgmExporter.config.name`) is named but not read (aiconform reads only ConfigMaps it made; the
  accelerator_metrics check judges the scraped series);
- a running exporter pod on every accelerator node.
All verified: a `Provided` note (state `Provided`). Something missing: a `Blocked` note naming it and the field
to set (the ClusterPolicy's when the GPU Operator runs it). A ClusterPolicy that enables the exporter before its
DaemonSet exists is `Blocked` too (the GPU Operator is about to render it). With neither, ours is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiconform.api.models import DcgmExporterSpec, ProfileSpec
from aiconform.components._common import (
    LABEL_NAME,
    PSA_ENFORCE,
    Manifest,
    Plan,
    ProfileRef,
    api_served,
    is_ours,
    make_plan,
    manifest,
    node_scheduling,
    object_meta,
    owned_namespace,
    toleration_dict,
)
from aiconform.conformance.facts import (
    accelerator_nodes,
    as_list,
    as_map,
    crd_established,
    daemonset_pods,
    image_repository,
    labels,
    name,
    names_list,
    namespace,
    pod_node,
    pod_running,
    spec_of,
)
from aiconform.kube.snapshot import Obj, Snapshot

COMPONENT = "dcgmExporter"
NAME = "dcgm-exporter"
CONFIGMAP = f"{NAME}-metrics"
CSV_FILE = "counters.csv"
CSV_DIR = "/etc/dcgm-exporter/aiconform"
SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com"
SELECTOR = {LABEL_NAME: NAME, "app.kubernetes.io/instance": "aiconform"}
PORT_NAME = "metrics"

Counter = tuple[str, str, str]  # DCGM field, Prometheus type, help

BASE_COUNTERS: tuple[Counter, ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
)
COLLECTOR_COUNTERS: Mapping[str, tuple[Counter, ...]] = {
    "xid": (("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),),
    "nvlink": (("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total NVLink bandwidth counter over all lanes."),),
    "profiling": (
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
        ("DCGM_FI_PROF_SM_ACTIVE", "gauge", "Ratio of cycles an SM has at least one warp assigned."),
        ("DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "Ratio of warps resident on an SM to the maximum."),
        ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
        ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active."),
        ("DCGM_FI_PROF_PCIE_TX_BYTES", "counter", "Bytes of active PCIe tx data including header and payload."),
        ("DCGM_FI_PROF_PCIE_RX_BYTES", "counter", "Bytes of active PCIe rx data including header and payload."),
    ),
    "ecc": (
        ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total single-bit volatile ECC errors."),
        ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total double-bit volatile ECC errors."),
        ("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "counter", "Total single-bit persistent ECC errors."),
        ("DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "counter", "Total double-bit persistent ECC errors."),
        ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped for uncorrectable errors."),
        ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped for correctable errors."),
        ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed."),
    ),
    "power": (
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
        ("DCGM_FI_DEV_POWER_VIOLATION", "counter", "Throttling duration due to power constraints (in us)."),
        ("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "Throttling duration due to thermal constraints (in us)."),
    ),
    "clocks": (
        ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
        ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
        ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge", "Current clock throttle reasons (bitmask)."),
    ),
}


# Brownfield: the exporter another party runs.
CLUSTER_POLICIES = "clusterpolicies.nvidia.com"
GPU_OPERATOR_EXPORTER = "nvidia-dcgm-exporter"  # the GPU Operator's DaemonSet (assets/state-dcgm-exporter)
CSV_ENV = "DCGM_EXPORTER_COLLECTORS"
DEFAULT_CSV = "/etc/dcgm-exporter/default-counters.csv"  # dcgm-exporter's default for -f
# The DCGM field(s) that show a collector group is collected.
GROUP_FIELDS: Mapping[str, tuple[str, ...]] = {
    "xid": ("DCGM_FI_DEV_XID_ERRORS",),
    "nvlink": ("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",),
    "profiling": ("DCGM_FI_PROF_GR_ENGINE_ACTIVE",),
    "ecc": ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"),
    "power": ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",),
    "clocks": ("DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK"),
}
# The counters CSVs built into the dcgm-exporter image (its etc/), by file name: the groups whose fields they
# list uncommented. Both leave ECC out (commented); only the DCP file has the profiling (PROF_*) fields.
BUILTIN_CSVS: Mapping[str, frozenset[str]] = {
    "default-counters.csv": frozenset({"xid", "nvlink", "power", "clocks"}),
    "dcp-metrics-included.csv": frozenset({"xid", "nvlink", "profiling", "power", "clocks"}),
}


def counters(collectors: Sequence[str]) -> list[Counter]:
    """The base counters, then each collector group in the fixed order of COLLECTOR_COUNTERS."""
    chosen = set(collectors)
    return [*BASE_COUNTERS, *(c for group, cs in COLLECTOR_COUNTERS.items() if group in chosen for c in cs)]


def counters_csv(collectors: Sequence[str]) -> str:
    lines = [
        "# Generated by aiconform from spec.components.dcgmExporter.collectors.",
        "# Format: DCGM field, Prometheus metric type, help message",
    ]
    lines += [f"{field}, {kind}, {help_text}" for field, kind, help_text in counters(collectors)]
    return "\n".join(lines) + "\n"


def _scheduling(spec: ProfileSpec) -> dict[str, Any]:
    dcgm = spec.components.dcgm_exporter
    if dcgm.node_selector is not None:
        return node_scheduling(dcgm.node_selector, None)
    selector = spec.accelerators.node_selector
    return node_scheduling(selector.match_labels, selector)


def _container(dcgm: DcgmExporterSpec) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health", "port": PORT_NAME}, "periodSeconds": 10}
    return {
        "name": NAME,
        "image": dcgm.image,
        "args": ["-f", f"{CSV_DIR}/{CSV_FILE}", "-a", f":{dcgm.port}"],
        "env": [{"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"}],
        "ports": [{"name": PORT_NAME, "containerPort": dcgm.port, "protocol": "TCP"}],
        "securityContext": {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "capabilities": {"add": ["SYS_ADMIN"]},
        },
        "readinessProbe": {**probe, "initialDelaySeconds": 15},
        "livenessProbe": {**probe, "initialDelaySeconds": 45},
        "volumeMounts": [
            {"name": "metrics", "mountPath": CSV_DIR, "readOnly": True},
            {"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True},
        ],
    }


def daemonset(spec: ProfileSpec, ref: ProfileRef) -> Manifest:
    dcgm = spec.components.dcgm_exporter
    pod_spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "priorityClassName": "system-node-critical",
        **_scheduling(spec),
        "tolerations": [toleration_dict(t) for t in dcgm.tolerations],
        "containers": [_container(dcgm)],
        "volumes": [
            {"name": "metrics", "configMap": {"name": CONFIGMAP}},
            {"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources"}},
        ],
    }
    return manifest(
        "DaemonSet",
        object_meta(ref, COMPONENT, NAME, dcgm.namespace, SELECTOR),
        spec={
            "selector": {"matchLabels": dict(SELECTOR)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": dict(SELECTOR)}, "spec": pod_spec},
        },
    )


def service(dcgm: DcgmExporterSpec, ref: ProfileRef) -> Manifest:
    return manifest(
        "Service",
        object_meta(ref, COMPONENT, NAME, dcgm.namespace, SELECTOR),
        spec={
            "selector": dict(SELECTOR),
            "ports": [{"name": PORT_NAME, "port": dcgm.port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    )


def service_monitor(dcgm: DcgmExporterSpec, ref: ProfileRef) -> Manifest:
    return manifest(
        "ServiceMonitor",
        object_meta(ref, COMPONENT, NAME, dcgm.namespace, SELECTOR),
        spec={
            "selector": {"matchLabels": dict(SELECTOR)},
            "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "30s"}],
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# An exporter the platform runs


def _exporter_container(ds: Obj) -> Mapping[str, Any] | None:
    containers = [as_map(c) for c in as_list(as_map(spec_of(as_map(spec_of(ds).get("template")))).get("containers"))]
    for c in containers:
        if "dcgm-exporter" in image_repository(str(c.get("image") or "")) or "dcgm-exporter" in str(c.get("name")):
            return c
    return containers[0] if containers else None


def is_platform_exporter(ds: Obj, ref: ProfileRef) -> bool:
    """A DCGM exporter DaemonSet that is not ours: the GPU Operator's by name, or any running the image."""
    if is_ours(ds, ref):
        return False
    if name(ds) == GPU_OPERATOR_EXPORTER or labels(ds).get("app") == GPU_OPERATOR_EXPORTER:
        return True
    container = _exporter_container(ds)
    return container is not None and "dcgm-exporter" in image_repository(str(container.get("image") or ""))


def platform_exporters(snapshot: Snapshot, ref: ProfileRef) -> list[Obj]:
    return sorted(
        (ds for ds in snapshot.daemonsets if is_platform_exporter(ds, ref)), key=lambda d: (namespace(d), name(d))
    )


def exporter_policies(snapshot: Snapshot) -> list[Obj]:
    """GPU Operator ClusterPolicies with spec.dcgmExporter.enabled true (the operator's default is true, so an
    absent field counts as enabled)."""
    return sorted(
        (
            cp
            for cp in snapshot.objects(CLUSTER_POLICIES)
            if as_map(spec_of(cp).get("dcgmExporter")).get("enabled", True) is not False
        ),
        key=name,
    )


def _csv_path(container: Mapping[str, Any]) -> str:
    """The counters CSV the exporter container reads: -f/--collectors, else env, else the default."""
    args = [str(a) for a in as_list(container.get("command")) + as_list(container.get("args"))]
    for i, arg in enumerate(args):
        for flag in ("-f", "--collectors"):
            if arg == flag and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    for env in as_list(container.get("env")):
        if as_map(env).get("name") == CSV_ENV and as_map(env).get("value"):
            return str(as_map(env)["value"])
    return DEFAULT_CSV


def _csv_configmap(ds: Obj, container: Mapping[str, Any], path: str) -> str | None:
    """The ConfigMap the CSV at `path` is mounted from, if any."""
    volumes = {
        str(as_map(v).get("name")): as_map(v)
        for v in as_list(as_map(spec_of(as_map(spec_of(ds).get("template")))).get("volumes"))
    }
    for mount in as_list(container.get("volumeMounts")):
        mount_path = str(as_map(mount).get("mountPath") or "")
        if mount_path and (path == mount_path or path.startswith(mount_path.rstrip("/") + "/")):
            config_map = as_map(volumes.get(str(as_map(mount).get("name")), {}).get("configMap"))
            if config_map.get("name"):
                return f"{namespace(ds)}/{config_map['name']}"
    return None


def _how_to_fix(policies: list[Obj], fields: list[str]) -> str:
    listed = ", ".join(fields)
    if policies:
        return (
            f"set ClusterPolicy {name(policies[0])} spec.dcgmExporter.config.name to a ConfigMap (in the GPU "
            f"Operator's namespace) whose counters CSV lists {listed}"
        )
    return f"give it a counters CSV (-f or {CSV_ENV}) that lists {listed}"


def verify_platform_exporter(
    spec: ProfileSpec, snapshot: Snapshot, exporters: list[Obj], policies: list[Obj]
) -> tuple[list[str], list[str], list[str]]:
    """(provided, blocked, notes) for the exporters the platform runs."""
    dcgm = spec.components.dcgm_exporter
    blocked: list[str] = []
    notes: list[str] = []
    who = ", ".join(f"DaemonSet {namespace(d)}/{name(d)}" for d in exporters)
    if policies:
        who += f" (GPU Operator, ClusterPolicy {name(policies[0])})"
    # Collectors: what each exporter is configured with.
    collected: list[str] = []
    for ds in exporters:
        container = _exporter_container(ds)
        if container is None:
            continue
        path = _csv_path(container)
        config_map = _csv_configmap(ds, container, path)
        builtin = BUILTIN_CSVS.get(path.rsplit("/", 1)[-1]) if config_map is None else None
        ds_ref = f"DaemonSet {namespace(ds)}/{name(ds)}"
        if builtin is None:
            source = f"ConfigMap {config_map}" if config_map else f"{path}, not a CSV built into the image"
            notes.append(
                f"{ds_ref}: collectors not verified: its counters come from {source}, which aiconform does not read "
                "(the accelerator_metrics check judges the scraped series)"
            )
            continue
        missing = [c for c in dcgm.collectors if c not in builtin]
        if missing:
            fields = [f for c in missing for f in GROUP_FIELDS[c]]
            blocked.append(
                f"{ds_ref} does not collect {', '.join(missing)} (spec.components.dcgmExporter.collectors; its "
                f"counters: {path}, built into the image): {_how_to_fix(policies, fields)}"
            )
        else:
            collected.append(f"{', '.join(dcgm.collectors)} collected ({path.rsplit('/', 1)[-1]})")
    # Coverage: a running exporter pod on every accelerator node.
    nodes = sorted(name(n) for n in accelerator_nodes(snapshot, spec))
    running = {pod_node(p) for ds in exporters for p in daemonset_pods(snapshot, ds) if pod_running(p) and pod_node(p)}
    lacking = [n for n in nodes if n not in running]
    if not nodes:
        blocked.append("no accelerator node: the exporter has nothing to measure")
    elif lacking:
        selectors = "; ".join(
            f"{name(d)} selects nodes {as_map(as_map(spec_of(d).get('template')).get('spec')).get('nodeSelector', {})}"
            for d in exporters
        )
        hint = (
            " (the GPU Operator runs it on nodes labelled nvidia.com/gpu.deploy.dcgm-exporter=true; check "
            "ClusterPolicy spec.daemonsets.tolerations against the nodes' taints)"
            if policies
            else ""
        )
        blocked.append(
            f"no running exporter pod on {len(lacking)} of {len(nodes)} accelerator nodes: {names_list(lacking)} "
            f"({selectors}){hint}"
        )
    if not exporters:
        blocked.append(
            f"ClusterPolicy {name(policies[0])} enables spec.dcgmExporter but no exporter DaemonSet runs yet "
            "(the GPU Operator renders nvidia-dcgm-exporter in its namespace): not deploying a second one"
        )
        return [f"DCGM exporter provided by the platform (ClusterPolicy {name(policies[0])})"], blocked, notes
    covered = f"running on all {len(nodes)} accelerator nodes" if nodes and not lacking else ""
    detail = "; ".join(p for p in [*collected, covered] if p)
    provided = f"DCGM exporter provided by the platform: {who}" + (f": {detail}" if detail else "")
    return [provided], blocked, notes


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    exporters = platform_exporters(snapshot, ref)
    policies = exporter_policies(snapshot)
    if exporters or policies:
        provided, blocked, notes = verify_platform_exporter(spec, snapshot, exporters, policies)
        return make_plan(notes=notes, blocked=blocked, provided=provided)
    return own_exporter(spec, snapshot, ref)


def own_exporter(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    """Our exporter: Namespace, ServiceAccount, ConfigMap, DaemonSet, Service and (if its CRD is there) a
    ServiceMonitor."""
    dcgm = spec.components.dcgm_exporter
    objects, patches, notes = owned_namespace(ref, COMPONENT, snapshot, dcgm.namespace, {PSA_ENFORCE: "privileged"})
    objects += [
        manifest(
            "ServiceAccount",
            object_meta(ref, COMPONENT, NAME, dcgm.namespace, SELECTOR),
            automountServiceAccountToken=False,
        ),
        manifest(
            "ConfigMap",
            object_meta(ref, COMPONENT, CONFIGMAP, dcgm.namespace, SELECTOR),
            data={CSV_FILE: counters_csv(dcgm.collectors)},
        ),
        daemonset(spec, ref),
        service(dcgm, ref),
    ]
    skipped: list[str] = []
    if crd_established(snapshot, SERVICE_MONITOR_CRD) and api_served(
        snapshot, "monitoring.coreos.com/v1", "servicemonitors"
    ):
        objects.append(service_monitor(dcgm, ref))
    else:
        notes.append(f"{SERVICE_MONITOR_CRD} is not installed: no ServiceMonitor (scrape the Service another way)")
        skipped.append(f"ServiceMonitor/{dcgm.namespace}/{NAME}")
    blocked = [] if accelerator_nodes(snapshot, spec) else ["no accelerator node: the exporter has nothing to run on"]
    return make_plan(objects, patches, notes, skipped, blocked=blocked)
