"""Quotas: cap what each tenant namespace may take of the accelerators.

Objects: ResourceQuota `aiconform-gpu` in every tenant namespace with
- `requests.<spec.accelerators.resourceName>: gpusPerTenant` (extended resources are quota'd by request only);
- with `draDevicesPerTenant` set and resource.k8s.io/v1 served: `<class>.deviceclass.resource.k8s.io/devices: N`
  for every DeviceClass the dra component makes (`gpu.nvidia.com`, and `mig.nvidia.com` on MIG clusters). That
  is the per-DeviceClass device count the kube-apiserver's ResourceClaim quota evaluator charges
  (k8s.io/kubernetes pkg/quota/v1/evaluator/core/resource_claims.go, `V1ResourceByDeviceClass`).
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.components import dra
from aiconform.components._common import (
    NAME_PREFIX,
    Manifest,
    Plan,
    ProfileRef,
    api_served,
    make_plan,
    manifest,
    object_meta,
    tenant_namespaces,
)
from aiconform.kube.snapshot import Snapshot

COMPONENT = "quotas"
NAME = f"{NAME_PREFIX}gpu"
DEVICE_CLASS_SUFFIX = ".deviceclass.resource.k8s.io/devices"


def hard_limits(spec: ProfileSpec, snapshot: Snapshot) -> tuple[dict[str, str], list[str]]:
    """(`spec.hard`, notes)."""
    quotas = spec.components.quotas
    hard = {f"requests.{spec.accelerators.resource_name}": str(quotas.gpus_per_tenant)}
    notes: list[str] = []
    if quotas.dra_devices_per_tenant is not None:
        if api_served(snapshot, "resource.k8s.io/v1", "deviceclasses"):
            for class_name in dra.device_class_names(spec, snapshot):
                hard[f"{class_name}{DEVICE_CLASS_SUFFIX}"] = str(quotas.dra_devices_per_tenant)
        else:
            notes.append("resource.k8s.io/v1 is not served: draDevicesPerTenant has no effect")
    return dict(sorted(hard.items())), notes


def resource_quota(namespace: str, hard: dict[str, str], ref: ProfileRef) -> Manifest:
    return manifest("ResourceQuota", object_meta(ref, COMPONENT, NAME, namespace), spec={"hard": dict(hard)})


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    hard, notes = hard_limits(spec, snapshot)
    return make_plan([resource_quota(ns, hard, ref) for ns in tenant_namespaces(spec, snapshot)], notes=notes)
