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
    make_plan,
    manifest,
    node_scheduling,
    object_meta,
    owned_namespace,
    toleration_dict,
)
from aiconform.conformance.facts import crd_established
from aiconform.kube.snapshot import Snapshot

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


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
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
    return make_plan(objects, patches, notes, skipped)
