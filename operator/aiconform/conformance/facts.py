"""Small, pure helpers shared by the checks: object accessors, selectors, CRDs, Deployments, DRA attributes.

Objects are plain dicts as the API server returns them; every accessor tolerates missing fields, because a
snapshot may hold half-initialized objects (no status yet) and a check must never crash on them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.verdict import (
    CONTROLLER_UNAVAILABLE,
    CRDS_MISSING,
    DISCOVERY_UNAVAILABLE,
    NOT_IMPLEMENTED,
    UNREADABLE,
    WEBHOOK_SERVICE_MISSING,
    Verdict,
    VerdictStatus,
)
from aiconform.kube.snapshot import Obj, Snapshot

MAX_NAMES = 10  # names listed in a message before "and N more"
MAX_EVIDENCE = 10  # evidence entries of one kind before "... and N more"

# ---------------------------------------------------------------------------------------------------------------
# Object accessors


def meta(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def labels(obj: Obj) -> dict[str, str]:
    raw = meta(obj).get("labels")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def spec_of(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("spec")
    return value if isinstance(value, Mapping) else {}


def status_of(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("status")
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def ref(kind: str, obj: Obj) -> str:
    """`Kind/namespace/name` or `Kind/name` for cluster-scoped objects."""
    ns = namespace(obj)
    return f"{kind}/{ns}/{name(obj)}" if ns else f"{kind}/{name(obj)}"


def conditions(obj: Obj) -> list[Mapping[str, Any]]:
    return [c for c in as_list(status_of(obj).get("conditions")) if isinstance(c, Mapping)]


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions(obj) if c.get("type") == type_), None)


def condition_true(obj: Obj, type_: str) -> bool:
    cond = condition(obj, type_)
    return cond is not None and str(cond.get("status")) == "True"


def condition_detail(obj: Obj, type_: str) -> str:
    """`Accepted=False (InvalidParameters: ...)` or `no Accepted condition`, for messages."""
    cond = condition(obj, type_)
    if cond is None:
        return f"no {type_} condition"
    detail = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
    return f"{type_}={cond.get('status')}" + (f" ({detail})" if detail else "")


def to_int(value: Any, default: int = 0) -> int:
    """An int from an int or a plain decimal string ("8"); quantities with suffixes give the default."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


# ---------------------------------------------------------------------------------------------------------------
# Messages and evidence


def names_list(names: Iterable[str], limit: int = MAX_NAMES) -> str:
    """Sorted, deduplicated, at most `limit` names, then "and N more"."""
    items = sorted(set(names))
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


def capped(entries: Sequence[str], limit: int = MAX_EVIDENCE) -> tuple[str, ...]:
    """Evidence entries, at most `limit` of them and a last "... and N more"."""
    if len(entries) <= limit:
        return tuple(entries)
    return (*entries[:limit], f"... and {len(entries) - limit} more")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 node`, `2 nodes`; `many` for irregular plurals ("DeviceClasses")."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with the reason it would be reported under."""

    reason: str
    message: str


def from_problems(
    requirement: str, status: VerdictStatus, problems: Sequence[Problem], evidence: Sequence[str]
) -> Verdict:
    """A failing verdict: the first problem's reason (callers order problems by severity), every message."""
    return Verdict(
        requirement=requirement,
        status=status,
        reason=problems[0].reason,
        message="; ".join(p.message for p in problems),
        evidence=tuple(evidence),
    )


def discovery_missing(requirement: str, snapshot: Snapshot) -> Verdict | None:
    """A `DiscoveryUnavailable` verdict when the snapshot holds no served resources at all (discovery failed or
    was not run): "not served" would then be a guess, and an N/A drawn from it could pass a MUST."""
    if snapshot.api_resources:
        return None
    return Verdict(
        requirement,
        NOT_IMPLEMENTED,
        DISCOVERY_UNAVAILABLE,
        "the snapshot has no API discovery data (served resources), so this cannot be judged",
    )


def unreadable(requirement: str, snapshot: Snapshot, *keys: str) -> Verdict | None:
    """An `Unreadable` verdict (condition Unknown) when any source this check reads could not be read (a 403, a
    failed LIST): cannot-see is never evaluated as "not installed". `keys` are source keys (kube/sources.py),
    e.g. "pods", "clusterqueues.kueue.x-k8s.io"."""
    why = [f"{k}: {snapshot.unreadable[k]}" for k in keys if k in snapshot.unreadable]
    if not why:
        return None
    return Verdict(
        requirement,
        NOT_IMPLEMENTED,
        UNREADABLE,
        "cannot tell: " + "; ".join(why[:5]) + " — grant the operator (or the user running check) list and watch",
        evidence=tuple(f"unreadable {k}" for k in keys if k in snapshot.unreadable),
    )


# ---------------------------------------------------------------------------------------------------------------
# Selection by the profile


def accelerator_nodes(snapshot: Snapshot, spec: ProfileSpec) -> list[Obj]:
    selector = spec.accelerators.node_selector
    return sorted((n for n in snapshot.nodes if selector.matches(labels(n))), key=name)


def tenant_namespaces(snapshot: Snapshot, spec: ProfileSpec) -> set[str]:
    selector = spec.tenants.namespace_selector
    return {name(ns) for ns in snapshot.namespaces if selector.matches(labels(ns))}


def selector_text(match_labels: Mapping[str, str], expressions: int = 0) -> str:
    text = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())) or "{}"
    return text + (f" (+{plural(expressions, 'expression')})" if expressions else "")


def no_accelerator_nodes_message(spec: ProfileSpec) -> str:
    sel = spec.accelerators.node_selector
    return (
        f"no node matches spec.accelerators.nodeSelector {selector_text(sel.match_labels, len(sel.match_expressions))}"
    )


# ---------------------------------------------------------------------------------------------------------------
# CRDs


def crd_established(snapshot: Snapshot, crd_name: str) -> bool:
    crd = snapshot.crd(crd_name)
    return crd is not None and condition_true(crd, "Established")


def crd_problems(snapshot: Snapshot, crd_names: Iterable[str]) -> list[str]:
    """For each CRD that is absent or not Established: `name (absent)` / `name (not Established)`."""
    out = []
    for crd_name in crd_names:
        crd = snapshot.crd(crd_name)
        if crd is None:
            out.append(f"{crd_name} (absent)")
        elif not condition_true(crd, "Established"):
            out.append(f"{crd_name} (not Established)")
    return out


def crd_evidence(crd_names: Iterable[str]) -> list[str]:
    return [f"CRD {n} Established" for n in crd_names]


def any_crd_present(snapshot: Snapshot, crd_names: Iterable[str]) -> bool:
    return any(snapshot.crd(n) is not None for n in crd_names)


# ---------------------------------------------------------------------------------------------------------------
# Workloads


def available_replicas(dep: Obj) -> int:
    return to_int(status_of(dep).get("availableReplicas"))


def deployment_available(dep: Obj) -> bool:
    return available_replicas(dep) >= 1


def deployment_state(dep: Obj) -> str:
    """`Deployment/ns/name 1/1 available` for evidence and messages."""
    wanted = to_int(spec_of(dep).get("replicas"), 1)
    return f"{ref('Deployment', dep)} {available_replicas(dep)}/{wanted} available"


def find_deployments(snapshot: Snapshot, predicate: Callable[[Obj], bool]) -> list[Obj]:
    return sorted((d for d in snapshot.deployments if predicate(d)), key=lambda d: (namespace(d), name(d)))


@dataclass(frozen=True)
class ControllerLookup:
    """A controller Deployment found (or not) by a predicate: the healthy one wins."""

    available: Obj | None
    unavailable: tuple[Obj, ...]

    @property
    def found(self) -> bool:
        return self.available is not None or bool(self.unavailable)

    def describe_missing(self, what: str) -> str:
        if self.unavailable:
            return f"{what} not available: {names_list(deployment_state(d) for d in self.unavailable)}"
        return f"no {what} Deployment found"


def lookup_controller(snapshot: Snapshot, predicate: Callable[[Obj], bool]) -> ControllerLookup:
    deps = find_deployments(snapshot, predicate)
    healthy = next((d for d in deps if deployment_available(d)), None)
    return ControllerLookup(healthy, tuple(d for d in deps if not deployment_available(d)))


def pod_ready(pod: Obj) -> bool:
    return status_of(pod).get("phase") == "Running" and condition_true(pod, "Ready")


def pod_running(pod: Obj) -> bool:
    return status_of(pod).get("phase") == "Running"


def pod_node(pod: Obj) -> str:
    return str(spec_of(pod).get("nodeName") or "")


def owned_by(obj: Obj, kind: str, owner_name: str) -> bool:
    return any(
        isinstance(o, Mapping) and o.get("kind") == kind and o.get("name") == owner_name
        for o in as_list(meta(obj).get("ownerReferences"))
    )


def selector_matches(match_labels: Mapping[str, Any], obj_labels: Mapping[str, str]) -> bool:
    """A plain matchLabels selector; an empty one matches nothing (we never want "every pod" by accident)."""
    return bool(match_labels) and all(obj_labels.get(str(k)) == str(v) for k, v in match_labels.items())


def daemonset_pods(snapshot: Snapshot, ds: Obj) -> list[Obj]:
    """Pods of a DaemonSet: by owner reference, or by its matchLabels selector in its namespace."""
    match = as_map(as_map(spec_of(ds).get("selector")).get("matchLabels"))
    return [
        p
        for p in snapshot.pods
        if namespace(p) == namespace(ds) and (owned_by(p, "DaemonSet", name(ds)) or selector_matches(match, labels(p)))
    ]


# ---------------------------------------------------------------------------------------------------------------
# Webhooks


def webhook_service_problems(snapshot: Snapshot, api_groups: Iterable[str]) -> tuple[list[str], list[str]]:
    """Validating webhooks whose rules cover `api_groups`: (problems, evidence).

    A webhook is operational, as far as the API shows, when its clientConfig names a Service that exists or
    gives a URL. (Ready endpoints behind the Service are not in the snapshot.)
    """
    groups = set(api_groups)
    services = {(namespace(s), name(s)) for s in snapshot.services}
    problems: list[str] = []
    evidence: list[str] = []
    for cfg in sorted(snapshot.validating_webhooks, key=name):
        for hook in as_list(cfg.get("webhooks")):
            if not isinstance(hook, Mapping) or not _hook_covers(hook, groups):
                continue
            client = as_map(hook.get("clientConfig"))
            svc = as_map(client.get("service"))
            hook_ref = f"ValidatingWebhookConfiguration/{name(cfg)} webhook {hook.get('name', '?')}"
            if client.get("url"):
                evidence.append(f"{hook_ref} url")
            elif (str(svc.get("namespace", "")), str(svc.get("name", ""))) in services:
                evidence.append(f"{hook_ref} -> Service/{svc.get('namespace')}/{svc.get('name')}")
            else:
                problems.append(f"{hook_ref} points at missing Service/{svc.get('namespace')}/{svc.get('name')}")
    return problems, evidence


def _hook_covers(hook: Mapping[str, Any], groups: set[str]) -> bool:
    for rule in as_list(hook.get("rules")):
        hook_groups = {str(g) for g in as_list(as_map(rule).get("apiGroups"))}
        if hook_groups & groups:
            return True
    return False


def webhook_problem(problems: Sequence[str]) -> str:
    return f"webhooks not served: {names_list(problems, 5)}"


# ---------------------------------------------------------------------------------------------------------------
# DRA


def slices_by_node(snapshot: Snapshot) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = defaultdict(list)
    for rs in snapshot.resource_slices:
        node = spec_of(rs).get("nodeName")
        if node:
            out[str(node)].append(rs)
    return out


def devices(rs: Obj) -> list[Mapping[str, Any]]:
    return [d for d in as_list(spec_of(rs).get("devices")) if isinstance(d, Mapping)]


def slice_driver(rs: Obj) -> str:
    return str(spec_of(rs).get("driver", ""))


def device_attr(device: Mapping[str, Any], attr: str) -> Any:
    """A device attribute's value by short name: `driverVersion` matches `gpu.nvidia.com/driverVersion` too.

    DRA attribute values are one-of maps ({"string": ...}, {"version": ...}, {"int": ...}, {"bool": ...}).
    """
    for key, value in as_map(device.get("attributes")).items():
        if str(key).rsplit("/", 1)[-1] == attr and isinstance(value, Mapping):
            for kind in ("string", "version", "int", "bool"):
                if kind in value:
                    return value[kind]
    return None


def attribute_names(device: Mapping[str, Any]) -> list[str]:
    """Short attribute names (domain prefix dropped), lower-cased."""
    return [str(k).rsplit("/", 1)[-1].lower() for k in as_map(device.get("attributes"))]


# ---------------------------------------------------------------------------------------------------------------
# Versions

_VERSION_RE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")


def parse_version(text: Any) -> tuple[int, ...] | None:
    """Dotted numbers compared numerically: "550.90.07" → (550, 90, 7); trailing text ("-1", "+abc") ignored."""
    if not isinstance(text, str):
        return None
    m = _VERSION_RE.match(text)
    if not m:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 550.54 == 550.54.0
    return tuple(parts)


def format_version(version: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version)


# ---------------------------------------------------------------------------------------------------------------
# Software stacks: CRDs + controller Deployment + webhooks (Kueue, Volcano, KubeRay, Karpenter, KEDA, ...)


@dataclass(frozen=True)
class Stack:
    """A software stack recognized by its CRDs, its controller Deployment and the webhooks of its API groups."""

    label: str  # "Kueue"
    crds: tuple[str, ...]
    controller: Callable[[Obj], bool]
    controller_name: str  # for messages: "kueue-controller-manager"
    webhook_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackHealth:
    stack: Stack
    present: bool  # some of its CRDs exist (or, without CRDs, a controller Deployment exists)
    problems: tuple[Problem, ...]
    evidence: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return self.present and not self.problems


def deployment_named(*names: str) -> Callable[[Obj], bool]:
    wanted = frozenset(names)
    return lambda dep: name(dep) in wanted


def deployment_name_contains(fragment: str) -> Callable[[Obj], bool]:
    return lambda dep: fragment in name(dep)


def assess_stack(snapshot: Snapshot, stack: Stack) -> StackHealth:
    """CRDs Established (`CRDsMissing`), a controller available (`ControllerUnavailable`), webhooks backed by a
    Service (`WebhookServiceMissing`)."""
    problems: list[Problem] = []
    evidence: list[str] = []
    missing = crd_problems(snapshot, stack.crds)
    if missing:
        problems.append(Problem(CRDS_MISSING, f"{stack.label} CRDs missing: {names_list(missing)}"))
    else:
        evidence += crd_evidence(stack.crds)
    controller = lookup_controller(snapshot, stack.controller)
    if controller.available is None:
        problems.append(
            Problem(
                CONTROLLER_UNAVAILABLE, controller.describe_missing(f"{stack.label} controller {stack.controller_name}")
            )
        )
    else:
        evidence.append(deployment_state(controller.available))
    hooks, hook_evidence = webhook_service_problems(snapshot, stack.webhook_groups)
    if hooks:
        problems.append(Problem(WEBHOOK_SERVICE_MISSING, f"{stack.label} {webhook_problem(hooks)}"))
    evidence += capped(hook_evidence, 3)
    present = any_crd_present(snapshot, stack.crds) if stack.crds else controller.found
    return StackHealth(stack, present, tuple(problems), tuple(evidence))
