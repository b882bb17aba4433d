"""Seccomp defaults: tenant pods run under the runtime's default seccomp profile (or a node-local one), via
Pod Security admission and an admission policy.

Produces:
- Field patches (not owned objects: the namespaces are the users') putting Pod Security labels on every tenant
  namespace, in the mode matching `enforcement` — Deny → `pod-security.kubernetes.io/enforce`, Warn → `warn`,
  Audit → `audit` — with level `podSecurityLevel` and `<mode>-version: latest`.
- ValidatingAdmissionPolicy `aiconform-require-seccomp`: every container, init container and ephemeral
  container must run with `seccompProfile.type` RuntimeDefault or Localhost — its own, or the pod's when it sets
  none (a container's setting overrides the pod's, so a pod-level RuntimeDefault with one container Unconfined
  is rejected). The message names the offending containers. Matched on pod CREATE and on UPDATE of
  `pods/ephemeralcontainers`; not on pod UPDATE, since a pod's security context cannot change after creation
  and checking updates would only block metadata changes (say, removing a finalizer) on pods created before
  the policy.
- ValidatingAdmissionPolicyBinding `aiconform-require-seccomp` with `validationActions` [Deny], [Warn] or
  [Audit] per `enforcement`, limited to the tenant namespaces (`namespaceSelector`).
The Pod Security level `restricted` already demands the same seccomp profiles; the policy makes it hold under
`baseline` too and names the containers at fault.
"""

from __future__ import annotations

from aiconform.api.models import ProfileSpec
from aiconform.components._common import (
    NAME_PREFIX,
    PSA_PREFIX,
    Manifest,
    Plan,
    ProfileRef,
    make_plan,
    manifest,
    namespace_labels_patch,
    object_meta,
    selector_dict,
    tenant_namespaces,
)
from aiconform.kube.snapshot import Snapshot

COMPONENT = "seccomp"
POLICY = f"{NAME_PREFIX}require-seccomp"
PSA_MODES = {"Deny": "enforce", "Warn": "warn", "Audit": "audit"}
ALLOWED = ("RuntimeDefault", "Localhost")
# No single quote in it: it is also spliced into a CEL string literal.
MESSAGE = (
    "containers must run with securityContext.seccompProfile.type RuntimeDefault or Localhost, their own or "
    "inherited from the pod securityContext"
)

_PROFILE_OK = (
    "has({x}.securityContext) && has({x}.securityContext.seccompProfile) && "
    "{x}.securityContext.seccompProfile.type in variables.allowed"
)
_CONTAINER_OK = (
    "has(c.securityContext) && has(c.securityContext.seccompProfile) ? "
    "c.securityContext.seccompProfile.type in variables.allowed : variables.podProfileOk"
)


def _offenders(field: str, optional: bool) -> str:
    names = f"object.spec.{field}.filter(c, !({_CONTAINER_OK})).map(c, c.name)"
    return f"(has(object.spec.{field}) ? {names} : [])" if optional else names


VARIABLES = (
    {"name": "allowed", "expression": "[" + ", ".join(f"'{a}'" for a in ALLOWED) + "]"},
    {"name": "podProfileOk", "expression": _PROFILE_OK.format(x="object.spec")},
    {
        "name": "offenders",
        "expression": " + ".join(
            (
                _offenders("containers", optional=False),
                _offenders("initContainers", optional=True),
                _offenders("ephemeralContainers", optional=True),
            )
        ),
    },
)


def pod_security_labels(spec: ProfileSpec) -> dict[str, str]:
    seccomp = spec.components.seccomp
    mode = PSA_MODES[seccomp.enforcement]
    return {f"{PSA_PREFIX}{mode}": seccomp.pod_security_level, f"{PSA_PREFIX}{mode}-version": "latest"}


def policy(ref: ProfileRef) -> Manifest:
    return manifest(
        "ValidatingAdmissionPolicy",
        object_meta(ref, COMPONENT, POLICY),
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": {
                "matchPolicy": "Equivalent",
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["pods/ephemeralcontainers"],
                    },
                ],
            },
            "variables": [dict(v) for v in VARIABLES],
            "validations": [
                {
                    "expression": "size(variables.offenders) == 0",
                    "message": MESSAGE,
                    "messageExpression": f"'{MESSAGE}; not so: ' + variables.offenders.join(', ')",
                    "reason": "Forbidden",
                }
            ],
        },
    )


def binding(spec: ProfileSpec, ref: ProfileRef) -> Manifest:
    return manifest(
        "ValidatingAdmissionPolicyBinding",
        object_meta(ref, COMPONENT, POLICY),
        spec={
            "policyName": POLICY,
            "validationActions": [spec.components.seccomp.enforcement],
            "matchResources": {"namespaceSelector": selector_dict(spec.tenants.namespace_selector)},
        },
    )


def plan(spec: ProfileSpec, snapshot: Snapshot, ref: ProfileRef) -> Plan:
    psa = pod_security_labels(spec)
    patches = [namespace_labels_patch(ns, psa) for ns in tenant_namespaces(spec, snapshot)]
    return make_plan([policy(ref), binding(spec, ref)], patches)
