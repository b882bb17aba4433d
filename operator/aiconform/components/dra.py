"""DRA: the DeviceClasses workloads claim accelerators through, a guard against `adminAccess`, and optionally a
kubelet plugin.

Objects:
- DeviceClass per device kind of the vendor. DeviceClass names are an API-level contract (ResourceClaims name
  them), so they are the vendor's conventional names, not `aiconform-` ones:
  - nvidia: `gpu.nvidia.com` (whole GPUs: `device.attributes['gpu.nvidia.com'].type == 'gpu'`) and, when an
    accelerator node is MIG-capable (label `nvidia.com/mig.capable=true`, a `nvidia.com/mig-*` resource, or a
    ResourceSlice device of type `mig`), `mig.nvidia.com` (type `mig`) — the NVIDIA DRA driver's own classes;
  - amd: `gpu.amd.com`, intel: `gpu.intel.com` — one class selecting every device of the vendor's DRA driver
    (both drivers are named like their class and publish no portable device-type attribute).
  A DeviceClass of that name that is not ours (the vendor's DRA driver made it: its Helm chart creates
  `gpu.nvidia.com` and, with MIG, `mig.nvidia.com`) is the platform's. It is verified, not fought: when its
  selectors select the vendor driver's published devices of that kind and no device of another driver, it is
  reported as provided (a `Provided` note; nothing of ours is made in its place). When the driver has published
  no such device yet it cannot be verified: a `Blocked` note says so. When it is incompatible (it selects devices
  of another driver, or none of the devices the vendor's driver publishes), our class stays in the plan, so the
  applier reports the name clash as a `Conflict`, and a note names the reason.
- With `denyAdminAccess`: ValidatingAdmissionPolicies `aiconform-deny-dra-admin-access` (ResourceClaims) and
  `aiconform-deny-dra-admin-access-templates` (ResourceClaimTemplates), each with a binding of the same name
  (`validationActions: [Deny]`, `namespaceSelector` = the tenants). They reject a request with
  `exactly.adminAccess: true` (resource.k8s.io/v1: `firstAvailable` subrequests have no adminAccess). Two
  policies, not one, because the API server type-checks every expression against every matched kind and the
  claim (`spec.devices`) and the template (`spec.spec.devices`) differ; `matchPolicy: Equivalent` converts
  requests of other served versions to v1 first.
- With `kubeletPlugin.enabled`: Namespace `aiconform-dra-driver` (Pod Security `privileged`: the plugin mounts
  kubelet's plugin directories and /dev), ServiceAccount, ClusterRole and ClusterRoleBinding
  `aiconform-dra-kubelet-plugin` (publish ResourceSlices, read claims and nodes) and DaemonSet
  `dra-kubelet-plugin` on the accelerator nodes, tolerating the accelerator taint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.components._common import (
    NAME_PREFIX,
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
    selector_dict,
)
from aiconform.conformance.facts import (
    accelerator_nodes,
    as_map,
    class_selects,
    device_attr,
    devices,
    labels,
    meta,
    name,
    plural,
    slice_driver,
    status_of,
)
from aiconform.kube.snapshot import Obj, Snapshot

COMPONENT = "dra"

# vendor → (DRA driver name, DeviceClass for whole devices)
DRIVERS: Mapping[str, str] = {"nvidia": "gpu.nvidia.com", "amd": "gpu.amd.com", "intel": "gpu.intel.com"}
NVIDIA_GPU_CLASS = "gpu.nvidia.com"
NVIDIA_MIG_CLASS = "mig.nvidia.com"
MIG_CAPABLE_LABEL = "nvidia.com/mig.capable"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"

ADMIN_POLICY = f"{NAME_PREFIX}deny-dra-admin-access"
ADMIN_POLICY_TEMPLATES = f"{ADMIN_POLICY}-templates"
ADMIN_MESSAGE = (
    "adminAccess to DRA devices is not allowed in tenant namespaces (spec.components.dra.denyAdminAccess of "
    "ConformanceProfile {profile})"
)

PLUGIN_NAMESPACE = f"{NAME_PREFIX}dra-driver"
PLUGIN_NAME = "dra-kubelet-plugin"
PLUGIN_RBAC = f"{NAME_PREFIX}{PLUGIN_NAME}"
PLUGIN_APP = {"app.kubernetes.io/name": PLUGIN_NAME}


# ---------------------------------------------------------------------------------------------------------------
# DeviceClasses


def mig_capable(spec: ProfileSpec, snapshot: Snapshot) -> bool:
    """Any accelerator node offers MIG: GFD's label, a MIG extended resource, or a DRA device of type mig."""
    nodes = accelerator_nodes(snapshot, spec)
    for node in nodes:
        if labels(node).get(MIG_CAPABLE_LABEL) == "true":
            return True
        status = status_of(node)
        resources = {*as_map(status.get("capacity")), *as_map(status.get("allocatable"))}
        if any(str(r).startswith(MIG_RESOURCE_PREFIX) for r in resources):
            return True
    return any(
        device_attr(d, "type") == "mig"
        for rs in snapshot.resource_slices
        if slice_driver(rs) == NVIDIA_GPU_CLASS
        for d in devices(rs)
    )


def device_class_selectors(spec: ProfileSpec, snapshot: Snapshot) -> dict[str, str]:
    """DeviceClass name → its CEL selector, for the profile's vendor."""
    vendor = spec.accelerators.vendor
    driver = DRIVERS[vendor]
    if vendor != "nvidia":
        return {driver: f"device.driver == '{driver}'"}

    def typed(kind: str) -> str:
        return f"device.driver == '{driver}' && device.attributes['{driver}'].type == '{kind}'"

    out = {NVIDIA_GPU_CLASS: typed("gpu")}
    if mig_capable(spec, snapshot):
        out[NVIDIA_MIG_CLASS] = typed("mig")
    return out


def device_class_names(spec: ProfileSpec, snapshot: Snapshot) -> list[str]:
    """The DeviceClasses this component makes (quotas count devices per class with them)."""
    return sorted(device_class_selectors(spec, snapshot))


def device_classes(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> list[Manifest]:
    return [
        manifest(
            "DeviceClass",
            object_meta(ref, COMPONENT, class_name),
            spec={"selectors": [{"cel": {"expression": expression}}]},
        )
        for class_name, expression in sorted(device_class_selectors(spec, snapshot).items())
    ]


# ---------------------------------------------------------------------------------------------------------------
# DeviceClasses the platform provides


def _class_kind(spec: ProfileSpec, class_name: str) -> str | None:
    """The device type a class of ours selects (nvidia: gpu or mig), None for a vendor without types."""
    if spec.accelerators.vendor != "nvidia":
        return None
    return "mig" if class_name == NVIDIA_MIG_CLASS else "gpu"


def _installer(dc: Obj) -> str:
    """Who made a foreign DeviceClass, as far as its metadata tells (Helm's release annotations)."""
    annotations = as_map(meta(dc).get("annotations"))
    release = annotations.get("meta.helm.sh/release-name")
    if release:
        return f"Helm release {annotations.get('meta.helm.sh/release-namespace', '')}/{release}".replace(" /", " ")
    manager = labels(dc).get("app.kubernetes.io/managed-by")
    return f"managed by {manager}" if manager else "not made by aiconform"


def verify_foreign_class(spec: ProfileSpec, snapshot: Snapshot, dc: Obj) -> tuple[str, str]:
    """Judge a DeviceClass of one of our names that someone else made: ("provided" | "unverified" |
    "incompatible", why). Provided: its selectors select devices the vendor's driver publishes, of the kind the
    name stands for, and no device of another driver."""
    class_name = name(dc)
    driver = DRIVERS[spec.accelerators.vendor]
    kind = _class_kind(spec, class_name)
    wanted, others, unknown = 0, 0, 0
    foreign_drivers: set[str] = set()
    published = 0
    for rs in snapshot.resource_slices:
        rs_driver = slice_driver(rs)
        for device in devices(rs):
            ours = rs_driver == driver and (kind is None or device_attr(device, "type") == kind)
            published += ours
            selected = class_selects(dc, rs, device)
            if selected is None:
                unknown += 1
            elif selected and ours:
                wanted += 1
            elif selected and rs_driver != driver:
                others += 1
                foreign_drivers.add(rs_driver)
    what = f"{kind} devices of driver {driver}" if kind else f"devices of driver {driver}"
    if others:
        return "incompatible", (
            f"it selects {plural(others, 'device')} of driver {', '.join(sorted(foreign_drivers))}, not {driver}"
        )
    if wanted:
        return "provided", f"selects {wanted} of {published} {what}"
    if unknown and not wanted:
        return "unverified", "its selectors use CEL that aiconform does not evaluate"
    if not published:
        return "unverified", f"no ResourceSlice publishes {what} yet"
    return "incompatible", f"it selects none of the {published} {what} published"


def _foreign_class_notes(
    spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef, wanted: Mapping[str, str]
) -> tuple[set[str], list[str], list[str], list[str]]:
    """(class names the platform provides, provided notes, blocked notes, other notes) for the DeviceClasses of
    our names that exist and are not ours."""
    existing = {name(dc): dc for dc in snapshot.device_classes}
    taken: set[str] = set()
    provided: list[str] = []
    blocked: list[str] = []
    notes: list[str] = []
    for class_name in sorted(wanted):
        dc = existing.get(class_name)
        if dc is None or is_ours(dc, ref):
            continue
        verdict, why = verify_foreign_class(spec, snapshot, dc)
        origin = _installer(dc)
        if verdict == "incompatible":
            notes.append(f"DeviceClass/{class_name} ({origin}) is incompatible: {why}")
            continue
        taken.add(class_name)
        if verdict == "provided":
            provided.append(f"DeviceClass/{class_name} provided by the platform ({origin}): {why}")
        else:
            provided.append(f"DeviceClass/{class_name} provided by the platform ({origin})")
            blocked.append(f"DeviceClass/{class_name} cannot be verified: {why}")
    return taken, provided, blocked, notes


# ---------------------------------------------------------------------------------------------------------------
# adminAccess policy

_REQUESTS = {
    # resource → path of the DeviceClaim inside the object
    "resourceclaims": "object.spec",
    "resourceclaimtemplates": "object.spec.spec",
}


def _admin_policy(policy_name: str, resource: str, ref: ProfileRef) -> Manifest:
    claim = _REQUESTS[resource]
    requests = f"has({claim}.devices) && has({claim}.devices.requests) ? {claim}.devices.requests : []"
    admin = "has(r.exactly) && has(r.exactly.adminAccess) && r.exactly.adminAccess"
    message = ADMIN_MESSAGE.format(profile=ref.name)
    return manifest(
        "ValidatingAdmissionPolicy",
        object_meta(ref, COMPONENT, policy_name),
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "resourceRules": [
                    {
                        "apiGroups": ["resource.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [resource],
                    }
                ],
            },
            "variables": [{"name": "requests", "expression": requests}],
            "validations": [
                {
                    "expression": f"!variables.requests.exists(r, {admin})",
                    "message": message,
                    "messageExpression": f"'{message}; requests asking for adminAccess: ' + "
                    f"variables.requests.filter(r, {admin}).map(r, r.name).join(', ')",
                    "reason": "Forbidden",
                }
            ],
        },
    )


def _binding(binding_name: str, policy_name: str, spec: ProfileSpec, ref: ProfileRef) -> Manifest:
    return manifest(
        "ValidatingAdmissionPolicyBinding",
        object_meta(ref, COMPONENT, binding_name),
        spec={
            "policyName": policy_name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": selector_dict(spec.tenants.namespace_selector)},
        },
    )


def admin_access_policies(spec: ProfileSpec, ref: ProfileRef) -> list[Manifest]:
    out: list[Manifest] = []
    for policy_name, resource in ((ADMIN_POLICY, "resourceclaims"), (ADMIN_POLICY_TEMPLATES, "resourceclaimtemplates")):
        out += [_admin_policy(policy_name, resource, ref), _binding(policy_name, policy_name, spec, ref)]
    return out


# ---------------------------------------------------------------------------------------------------------------
# Kubelet plugin


def _plugin_rbac(ref: ProfileRef) -> list[Manifest]:
    rules = [
        {
            "apiGroups": ["resource.k8s.io"],
            "resources": ["resourceslices"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
        },
        {"apiGroups": ["resource.k8s.io"], "resources": ["resourceclaims"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["resource.k8s.io"], "resources": ["deviceclasses"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
    ]
    return [
        manifest("ClusterRole", object_meta(ref, COMPONENT, PLUGIN_RBAC), rules=rules),
        manifest(
            "ClusterRoleBinding",
            object_meta(ref, COMPONENT, PLUGIN_RBAC),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PLUGIN_RBAC},
            subjects=[{"kind": "ServiceAccount", "name": PLUGIN_NAME, "namespace": PLUGIN_NAMESPACE}],
        ),
    ]


def _host_dir(volume: str, path: str) -> dict[str, Any]:
    return {"name": volume, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


def _plugin_daemonset(spec: ProfileSpec, ref: ProfileRef) -> Manifest:
    selector = spec.accelerators.node_selector
    mounts = [
        ("plugins-registry", "/var/lib/kubelet/plugins_registry"),
        ("plugins", "/var/lib/kubelet/plugins"),
        ("cdi", "/var/run/cdi"),
    ]
    container = {
        "name": "plugin",
        "image": spec.components.dra.kubelet_plugin.image,
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": v, "mountPath": p} for v, p in mounts]
        + [{"name": "dev", "mountPath": "/dev", "readOnly": True}],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": PLUGIN_NAME,
        "priorityClassName": "system-node-critical",
        **node_scheduling(selector.match_labels, selector),
        "tolerations": [{"key": spec.accelerators.resource_name, "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [container],
        "volumes": [_host_dir(v, p) for v, p in mounts] + [{"name": "dev", "hostPath": {"path": "/dev"}}],
    }
    return manifest(
        "DaemonSet",
        object_meta(ref, COMPONENT, PLUGIN_NAME, PLUGIN_NAMESPACE, PLUGIN_APP),
        spec={
            "selector": {"matchLabels": dict(PLUGIN_APP)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": dict(PLUGIN_APP)}, "spec": pod_spec},
        },
    )


def kubelet_plugin(
    spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef
) -> tuple[list[Manifest], list[Manifest], list[str]]:
    objects, patches, notes = owned_namespace(ref, COMPONENT, snapshot, PLUGIN_NAMESPACE, {PSA_ENFORCE: "privileged"})
    objects += [
        manifest(
            "ServiceAccount",
            object_meta(ref, COMPONENT, PLUGIN_NAME, PLUGIN_NAMESPACE, PLUGIN_APP),
            automountServiceAccountToken=True,
        ),
        *_plugin_rbac(ref),
        _plugin_daemonset(spec, ref),
    ]
    return objects, patches, notes


# ---------------------------------------------------------------------------------------------------------------


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    if not api_served(snapshot, "resource.k8s.io/v1", "deviceclasses"):
        note = "resource.k8s.io/v1 (DRA) is not served by this cluster: no DeviceClass or DRA policy created"
        return make_plan(blocked=[note])
    dra = spec.components.dra
    taken, provided, blocked, notes = _foreign_class_notes(spec, snapshot, ref, device_class_selectors(spec, snapshot))
    objects = [dc for dc in device_classes(spec, snapshot, ref) if dc["metadata"]["name"] not in taken]
    patches: list[Manifest] = []
    if dra.deny_admin_access:
        objects += admin_access_policies(spec, ref)
    if dra.kubelet_plugin.enabled and dra.kubelet_plugin.image:
        more, patches, plugin_notes = kubelet_plugin(spec, snapshot, ref)
        objects += more
        notes += plugin_notes
    return make_plan(objects, patches, notes, blocked=blocked, provided=provided)
