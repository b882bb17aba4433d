"""secure_accelerator_access (KAR-0049; MUST since 1.33).

Asks: access to accelerators from within containers is isolated and mediated by the Kubernetes resource
management framework (device plugin or DRA) and the container runtime, preventing unauthorized access or
interference between workloads.

The real proof is hardware: the upstream `TestSecureAcceleratorAccess` probes `/dev/nvidia*` from pods with and
without a claim and checks two pods see distinct GPUs. What the API shows is whether workloads can *bypass*
the mediation, so we verify, over the pods in tenant namespaces (spec.tenants.namespaceSelector) that are not
finished:
- no container is `privileged` (a privileged container sees every host device);
- no hostPath volume mounts a host device tree: `/`, `/dev`, `/dev/nvidia*`, `/dev/dri*`, `/dev/kfd*`,
  `/dev/accel*`, `/dev/vfio*`;
- no container sets `NVIDIA_VISIBLE_DEVICES` (other than `void`/`none`) without requesting the accelerator
  resource (spec.accelerators.resourceName or a MIG resource) or a DRA resource claim;
- no tenant namespace carries `resource.kubernetes.io/admin-access=true` (DRA adminAccess reaches devices in use);
- with spec.components.dra enabled and denyAdminAccess, a ValidatingAdmissionPolicy on resourceclaims /
  resourceclaimtemplates whose validations mention `adminAccess` is bound with `validationActions: [Deny]`.

Verdicts and tiers (tier `APIPresence`: the pod specs and policies as the API holds them):
- Implemented: never from the check. Device isolation is what only hardware proves (`evidence.HARDWARE_PARTS`,
  capped structurally in `evidence.enforce`); a declaration with the hardware test's evidence fills that in.
- Partially Implemented: `NeedsHardwareTest` when nothing bypasses the mediation (condition Unknown; the message
  names the hardware test), `AdminAccessNotDenied` when the adminAccess policy is missing.
- Not Implemented: `InsecureAcceleratorAccess`, naming each pod/namespace and why. These are `faults`: a
  declaration of Implemented is then `DeclarationContradicted` (Not Implemented, the objects named), never
  honoured.
- Unknown (condition): `NeedsHardwareTest` as above; `Unreadable` when namespaces, pods or the admission policies
  and bindings could not be listed (cannot-see is never "no offending pod").
- N/A: never.

Snapshot: `namespaces` (with labels), `pods` of the tenant namespaces, `validating_admission_policies`,
`validating_admission_policy_bindings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import HARDWARE_PARTS
from aiconform.conformance.facts import (
    as_list,
    as_map,
    capped,
    labels,
    name,
    names_list,
    namespace,
    plural,
    ref,
    spec_of,
    status_of,
    tenant_namespaces,
    unreadable,
)
from aiconform.conformance.verdict import (
    ADMIN_ACCESS_NOT_DENIED,
    INSECURE_ACCELERATOR_ACCESS,
    NEEDS_HARDWARE_TEST,
    NOT_IMPLEMENTED,
    PARTIAL,
    Verdict,
)
from aiconform.kube.snapshot import Obj, Snapshot

ID = "secure_accelerator_access"
DEVICE_TREES = ("/dev/nvidia", "/dev/dri", "/dev/kfd", "/dev/accel", "/dev/vfio")
ADMIN_ACCESS_LABEL = "resource.kubernetes.io/admin-access"
VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
HARMLESS_VISIBLE = ("", "void", "none")
CLAIM_RESOURCES = ("resourceclaims", "resourceclaimtemplates")
SOURCES = (
    "namespaces",
    "pods",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
)


def _containers(pod: Obj) -> list[Mapping[str, Any]]:
    pod_spec = spec_of(pod)
    return [
        as_map(c) for key in ("initContainers", "containers", "ephemeralContainers") for c in as_list(pod_spec.get(key))
    ]


def _device_host_path(path: str) -> bool:
    clean = path.rstrip("/") or "/"
    return clean in ("/", "/dev") or clean.startswith(DEVICE_TREES)


def _requests_accelerator(container: Mapping[str, Any], pod: Obj, resource: str) -> bool:
    resources = as_map(container.get("resources"))
    if as_list(resources.get("claims")) or as_list(spec_of(pod).get("resourceClaims")):
        return True
    keys = {str(k) for part in ("limits", "requests") for k in as_map(resources.get(part))}
    return resource in keys or any(k.startswith("nvidia.com/mig-") for k in keys)


def _container_violations(container: Mapping[str, Any], pod: Obj, resource: str) -> list[str]:
    out = []
    cname = container.get("name", "?")
    if as_map(container.get("securityContext")).get("privileged") is True:
        out.append(f"privileged container {cname}")
    for env in as_list(container.get("env")):
        env = as_map(env)
        value = str(env.get("value", "")).strip().lower()
        unmediated = value not in HARMLESS_VISIBLE and not _requests_accelerator(container, pod, resource)
        if env.get("name") == VISIBLE_DEVICES and unmediated:
            out.append(f"container {cname} sets {VISIBLE_DEVICES}={env.get('value')} without requesting {resource}")
    return out


def _pod_violations(pod: Obj, resource: str) -> list[str]:
    out = []
    for container in _containers(pod):
        out += _container_violations(container, pod, resource)
    for volume in as_list(spec_of(pod).get("volumes")):
        path = str(as_map(as_map(volume).get("hostPath")).get("path", ""))
        if path and _device_host_path(path):
            out.append(f"hostPath {path}")
    return out


def _offenders(snapshot: Snapshot, tenants: set[str], resource: str) -> tuple[list[str], int]:
    """(offending pods with why, sorted by namespace and name; number of pods inspected)."""
    offenders: list[tuple[str, str, list[str]]] = []
    inspected = 0
    for pod in snapshot.pods:
        pod_ns = namespace(pod)
        if pod_ns not in tenants or status_of(pod).get("phase") in ("Succeeded", "Failed"):
            continue
        inspected += 1
        why = _pod_violations(pod, resource)
        if why:
            offenders.append((pod_ns, name(pod), why))
    # Sorted once found (few), not the pods before (thousands, a pass at 5,000 namespaces).
    return [f"{ns}/{pod} ({'; '.join(why)})" for ns, pod, why in sorted(offenders)], inspected


def _policy_denies_admin_access(policy: Obj) -> bool:
    policy_spec = spec_of(policy)
    rules = as_list(as_map(policy_spec.get("matchConstraints")).get("resourceRules"))
    covers = any(
        {"resource.k8s.io", "*"} & {str(g) for g in as_list(as_map(r).get("apiGroups"))}
        and {*CLAIM_RESOURCES, "*"} & {str(x) for x in as_list(as_map(r).get("resources"))}
        for r in rules
    )
    mentions = any(
        "adminAccess" in str(as_map(v).get("expression", "")) for v in as_list(policy_spec.get("validations"))
    )
    return covers and mentions


def _admin_access_policy(snapshot: Snapshot) -> str | None:
    """`ValidatingAdmissionPolicy/x bound by ValidatingAdmissionPolicyBinding/y (Deny)` or None."""
    policies = {name(p) for p in snapshot.validating_admission_policies if _policy_denies_admin_access(p)}
    for binding in sorted(snapshot.validating_admission_policy_bindings, key=name):
        bspec = spec_of(binding)
        if bspec.get("policyName") in policies and "Deny" in as_list(bspec.get("validationActions")):
            policy = f"ValidatingAdmissionPolicy/{bspec.get('policyName')}"
            return f"{policy} bound by {ref('ValidatingAdmissionPolicyBinding', binding)} (Deny)"
    return None


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    tenants = tenant_namespaces(snapshot, spec)
    offenders, inspected = _offenders(snapshot, tenants, spec.accelerators.resource_name)
    admin_ns = sorted(
        name(ns) for ns in snapshot.namespaces if name(ns) in tenants and labels(ns).get(ADMIN_ACCESS_LABEL) == "true"
    )
    offenders += [f"namespace {ns} (label {ADMIN_ACCESS_LABEL}=true allows DRA adminAccess)" for ns in admin_ns]
    scope = f"{plural(inspected, 'pod')} in {plural(len(tenants), 'tenant namespace')}"
    if offenders:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            INSECURE_ACCELERATOR_ACCESS,
            f"accelerator access bypasses the device plugin/DRA in {names_list(offenders)}",
            (f"inspected {scope}",),
            faults=tuple(offenders),
        )
    policy = _admin_access_policy(snapshot)
    evidence = [f"inspected {scope}: no privileged, hostPath device or unrequested {VISIBLE_DEVICES} access"]
    evidence += [policy] if policy else []
    if policy is None and spec.components.dra.enabled and spec.components.dra.deny_admin_access:
        return Verdict(
            ID,
            PARTIAL,
            ADMIN_ACCESS_NOT_DENIED,
            f"no tenant pod bypasses device mediation ({scope}), but no ValidatingAdmissionPolicy bound with Deny "
            "rejects adminAccess on resourceclaims/resourceclaimtemplates (spec.components.dra.denyAdminAccess)",
            tuple(evidence),
        )
    none_note = "; no namespace matches spec.tenants.namespaceSelector, so no pod was inspected" if not tenants else ""
    return Verdict(
        ID,
        PARTIAL,
        NEEDS_HARDWARE_TEST,
        f"policy-level checks pass ({scope}{', adminAccess denied' if policy else ''}){none_note}; device isolation "
        f"needs the hardware test (TestSecureAcceleratorAccess): {HARDWARE_PARTS[ID]}",
        capped(evidence),
    )
