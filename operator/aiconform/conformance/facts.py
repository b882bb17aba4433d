"""Small, pure helpers shared by the checks: object accessors, selectors, CRDs, Deployments, DRA attributes.

Objects are plain dicts as the API server returns them; every accessor tolerates missing fields, because a
snapshot may hold half-initialized objects (no status yet) and a check must never crash on them.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiconform.api.models import ProfileSpec
from aiconform.conformance.verdict import (
    CONTROLLER_UNAVAILABLE,
    CRDS_MISSING,
    DISCOVERY_UNAVAILABLE,
    IMPLEMENTED,
    NO_ACCELERATOR_NODES,
    NOT_APPLICABLE,
    NOT_IMPLEMENTED,
    PARTIAL,
    PRESENCE_ONLY,
    UNREADABLE,
    WEBHOOK_SERVICE_MISSING,
    Verdict,
    VerdictStatus,
)
from aiconform.kube.records import Record
from aiconform.kube.snapshot import Obj, Snapshot

MAX_NAMES = 10  # names listed in a message before "and N more"
MAX_EVIDENCE = 10  # evidence entries of one kind before "... and N more"

# ---------------------------------------------------------------------------------------------------------------
# Object accessors


def meta(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("metadata")
    # `type(...) is dict` first: decoded JSON is plain dicts (the view's metadata too), and the ABC check costs a
    # tenth of a second per pass at 5,000 namespaces (these accessors run hundreds of thousands of times). The
    # view's other maps are records (kube/records.py), tested by type first for the same reason.
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def labels(obj: Obj) -> Mapping[str, str]:
    """An object's labels, read-only: the snapshot's own map (the API server's labels are strings; a copy per
    call cost a tenth of a second per pass at 15,000 namespaces)."""
    raw = meta(obj).get("labels")
    if not raw:
        return {}
    if type(raw) is dict:
        return raw
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def spec_of(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("spec")
    return value if type(value) is dict or type(value) is Record or isinstance(value, Mapping) else {}


def status_of(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("status")
    return value if type(value) is dict or type(value) is Record or isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict or type(value) is Record or isinstance(value, Mapping) else {}


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
    """The nodes spec.accelerators.nodeSelector selects: where the components put accelerator software. The checks
    judge the nodes that *have* accelerators instead (`accelerator_fleet`)."""
    selector = spec.accelerators.node_selector
    return sorted((n for n in snapshot.nodes if selector.matches(labels(n))), key=name)


def tenant_namespaces(snapshot: Snapshot, spec: ProfileSpec) -> set[str]:
    selector = spec.tenants.namespace_selector
    return {name(ns) for ns in snapshot.namespaces if selector.matches(labels(ns))}


def selector_text(match_labels: Mapping[str, str], expressions: int = 0) -> str:
    text = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())) or "{}"
    return text + (f" (+{plural(expressions, 'expression')})" if expressions else "")


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


def deployment_images(dep: Obj) -> list[str]:
    """The container images of a Deployment's pod template."""
    pod_spec = as_map(as_map(spec_of(dep).get("template")).get("spec"))
    return [str(as_map(c).get("image", "")) for c in as_list(pod_spec.get("containers")) if as_map(c).get("image")]


def image_repository(image: str) -> str:
    """`registry.k8s.io/kueue/kueue:v0.13.1@sha256:...` → `registry.k8s.io/kueue/kueue`."""
    repo = image.split("@", 1)[0]
    slash = repo.rfind("/")
    colon = repo.rfind(":")
    return repo[:colon] if colon > slash else repo


@dataclass(frozen=True)
class ControllerMatch:
    """How a controller's Deployment is recognised, whatever a Helm release called it: by name (also under a
    release prefix, `<release>-<name>`), by any of its label pairs, or by its image repository (the path after
    the registry: `kueue/kueue` matches `registry.k8s.io/kueue/kueue:v0.13.1`)."""

    names: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()
    name_contains: tuple[str, ...] = ()  # looser: any name holding the fragment (`cluster-autoscaler`)

    def __call__(self, dep: Obj) -> bool:
        dep_name = name(dep)
        if any(dep_name == n or dep_name.endswith(f"-{n}") for n in self.names):
            return True
        if any(fragment in dep_name for fragment in self.name_contains):
            return True
        dep_labels = labels(dep)
        if any(dep_labels.get(k) == v for k, v in self.labels):
            return True
        repos = [image_repository(i) for i in deployment_images(dep)]
        return any(r == i or r.endswith(f"/{i}") for r in repos for i in self.images)


@dataclass(frozen=True)
class ControllerLookup:
    """A controller Deployment found (or not) by a predicate: the healthy one wins.

    A Deployment's name and availableReplicas are APIPresence evidence at best (any image is "available" under a
    simulator, and a running pod says nothing about reconciling); 0 available replicas is evidence against."""

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


# ---------------------------------------------------------------------------------------------------------------
# A controller's own status, current for the object's generation


def generation(obj: Obj) -> int | None:
    value = meta(obj).get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def observed_behind(obj: Obj, cond: Mapping[str, Any] | None = None) -> str:
    """`observedGeneration 1 < generation 2` when the status (the condition's observedGeneration, else
    `status.observedGeneration`) is older than the object's spec; "" when current or when the API records no
    generation at all (then the status is all there is)."""
    gen = generation(obj)
    observed = cond.get("observedGeneration") if cond is not None else None
    if observed is None:
        observed = status_of(obj).get("observedGeneration")
    if gen is None or not isinstance(observed, int) or isinstance(observed, bool):
        return ""
    return f"observedGeneration {observed} < generation {gen}" if observed < gen else ""


Outcome = Literal["live", "failed", "stale", "unreconciled", "pending", "unproven"]


@dataclass(frozen=True)
class Judged:
    """One object as its controller reported it: `live` (a current success status), `failed` (a current failure
    status), `stale` (status older than the spec), `unreconciled` (no status at all), `pending` (neither),
    `unproven` (a success status that cannot be shown current: the controller records no generation)."""

    ref: str
    outcome: Outcome
    detail: str

    @property
    def text(self) -> str:
        return f"{self.ref} {self.detail}"


def judge_condition(kind: str, obj: Obj, type_: str, good: Iterable[str] = ("True",)) -> Judged:
    """An object by the condition `type_` its controller writes (Active, Ready, Accepted, Programmed, ...)."""
    obj_ref = ref(kind, obj)
    if not status_of(obj):
        return Judged(obj_ref, "unreconciled", "has no status (its controller never reconciled it)")
    cond = condition(obj, type_)
    lag = observed_behind(obj, cond)
    if lag:
        return Judged(obj_ref, "stale", f"status is not current ({lag})")
    if cond is None:
        return Judged(obj_ref, "unreconciled", f"has no {type_} condition")
    if str(cond.get("status")) in set(good):
        return Judged(obj_ref, "live", f"{type_}={cond.get('status')}")
    return Judged(obj_ref, "failed", condition_detail(obj, type_))


def judge_field(kind: str, obj: Obj, field: str, good: Iterable[str], bad: Iterable[str] = ()) -> Judged:
    """An object by a status field its controller writes (a RayCluster's `state`, a PodGroup's `phase`)."""
    obj_ref = ref(kind, obj)
    if not status_of(obj):
        return Judged(obj_ref, "unreconciled", "has no status (its controller never reconciled it)")
    lag = observed_behind(obj)
    if lag:
        return Judged(obj_ref, "stale", f"status is not current ({lag})")
    value = str(status_of(obj).get(field) or "")
    if value.lower() in {g.lower() for g in good}:
        return Judged(obj_ref, "live", f"{field}: {value}")
    if value.lower() in {b.lower() for b in bad}:
        return Judged(obj_ref, "failed", f"{field}: {value}")
    return Judged(obj_ref, "pending", f"{field}: {value or 'unset'}")


@dataclass(frozen=True)
class Reconciliation:
    """What a controller's statuses say about it, over the objects it should reconcile."""

    judged: tuple[Judged, ...] = ()

    def of(self, outcome: Outcome) -> list[Judged]:
        return [j for j in self.judged if j.outcome == outcome]

    @property
    def live(self) -> list[Judged]:
        return self.of("live")

    @property
    def neglected(self) -> list[Judged]:
        """Objects it should have reconciled but did not: evidence against the controller."""
        return self.of("stale") + self.of("unreconciled")

    @property
    def failed(self) -> list[Judged]:
        return self.of("failed")

    def __add__(self, other: Reconciliation) -> Reconciliation:
        return Reconciliation(self.judged + other.judged)


def reconciliation(judged: Iterable[Judged]) -> Reconciliation:
    return Reconciliation(tuple(sorted(judged, key=lambda j: j.ref)))


def scheduled_pods(snapshot: Snapshot, scheduler_names: Iterable[str]) -> list[Obj]:
    """Pods a given scheduler bound: `spec.schedulerName` is one of `scheduler_names`, a node is set, and the
    `PodScheduled=True` condition is there (the scheduler's own write)."""
    wanted = set(scheduler_names)
    return sorted(
        (
            p
            for p in snapshot.pods
            if str(spec_of(p).get("schedulerName", "")) in wanted and pod_node(p) and condition_true(p, "PodScheduled")
        ),
        key=lambda p: (namespace(p), name(p)),
    )


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


def node_selector_matches(selector: Any, node: Obj) -> bool:
    """A core/v1 NodeSelector (a ResourceSlice's `spec.nodeSelector`): any term matches, each term's
    matchExpressions (on labels) and matchFields (metadata.name) all hold. An empty or malformed one matches
    nothing."""
    terms = [as_map(t) for t in as_list(as_map(selector).get("nodeSelectorTerms"))]
    node_labels = labels(node)
    fields = {"metadata.name": name(node)}
    return any(
        (t.get("matchExpressions") or t.get("matchFields"))
        and all(_requirement_holds(as_map(r), node_labels) for r in as_list(t.get("matchExpressions")))
        and all(_requirement_holds(as_map(r), fields) for r in as_list(t.get("matchFields")))
        for t in terms
    )


def _requirement_holds(req: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key, op = str(req.get("key", "")), str(req.get("operator", ""))
    wanted = [str(v) for v in as_list(req.get("values"))]
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and wanted and values[key].lstrip("-").isdigit() and wanted[0].isdigit():
        have, bound = int(values[key]), int(wanted[0])
        return have > bound if op == "Gt" else have < bound
    return False


def slice_nodes(rs: Obj, nodes: Sequence[Obj]) -> list[str]:
    """The nodes a ResourceSlice's devices are reachable from: `spec.nodeName`, every node for `spec.allNodes`,
    the matching nodes for `spec.nodeSelector`."""
    rs_spec = spec_of(rs)
    if rs_spec.get("nodeName"):
        return [str(rs_spec["nodeName"])]
    if rs_spec.get("allNodes") is True:
        return [name(n) for n in nodes]
    if rs_spec.get("nodeSelector"):
        return [name(n) for n in nodes if node_selector_matches(rs_spec["nodeSelector"], n)]
    return []


def slices_by_node(snapshot: Snapshot, accelerators_only: bool = False) -> dict[str, list[Obj]]:
    """ResourceSlices per node they serve (nodeName, nodeSelector or allNodes); `accelerators_only`: only the
    slices of an accelerator vendor's DRA driver (`ACCELERATOR_DRA_DRIVERS`), never a NIC driver's."""
    out: dict[str, list[Obj]] = defaultdict(list)
    for rs in snapshot.resource_slices:
        if accelerators_only and not is_accelerator_driver(slice_driver(rs)):
            continue
        for node in slice_nodes(rs, snapshot.nodes):
            out[node].append(rs)
    return out


def devices(rs: Obj) -> list[Mapping[str, Any]]:
    return [d for d in as_list(spec_of(rs).get("devices")) if isinstance(d, Mapping)]


def slice_driver(rs: Obj) -> str:
    return str(spec_of(rs).get("driver", ""))


def published_by_kubelet_plugin(rs: Obj) -> bool:
    """A node-local slice owned by its Node: what a DRA driver's kubelet plugin publishes (the kubeletplugin helper
    of k8s.io/dynamic-resource-allocation sets that owner, and the kubelet removes the slices of a plugin that is
    gone). A slice anyone created by hand has no such owner. The owner must be the core v1 Node: a "Node" of
    another API group is no node at all, and the garbage collector, unable to resolve it, keeps such a slice."""
    node = spec_of(rs).get("nodeName")
    return bool(node) and any(
        isinstance(o, Mapping) and o.get("apiVersion") == "v1" and o.get("kind") == "Node" and o.get("name") == node
        for o in as_list(meta(rs).get("ownerReferences"))
    )


def device_attr(device: Mapping[str, Any], attr: str) -> Any:
    """A device attribute's value by short name: `driverVersion` matches `gpu.nvidia.com/driverVersion` too.

    DRA attribute values are one-of maps ({"string": ...}, {"version": ...}, {"int": ...}, {"bool": ...}).
    """
    for key, value in as_map(device.get("attributes")).items():
        if str(key).rsplit("/", 1)[-1] == attr and isinstance(value, Mapping):
            return _attr_value(value)
    return None


def _attr_value(value: Mapping[str, Any]) -> Any:
    for kind in ("string", "version", "int", "bool"):
        if kind in value:
            return value[kind]
    return None


def attribute_names(device: Mapping[str, Any]) -> list[str]:
    """Short attribute names (domain prefix dropped), lower-cased."""
    return [str(k).rsplit("/", 1)[-1].lower() for k in as_map(device.get("attributes"))]


# DeviceClass selectors: the CEL the vendors' classes use, `device.driver == "x"` and
# `device.attributes["domain"].name == "value"`, joined by && (and ||). Other terms are not evaluated.
_CEL_DRIVER = re.compile(r"""^device\.driver\s*==\s*['"]([^'"]+)['"]$""")
_CEL_ATTR = re.compile(r"""^device\.attributes\[\s*['"]([^'"]+)['"]\s*\]\.(\w+)\s*==\s*(?:['"]([^'"]*)['"]|(\w+))$""")


def _term_matches(term: str, driver: str, device: Mapping[str, Any]) -> bool | None:
    """True/False for a term we understand, None for one we do not."""
    if m := _CEL_DRIVER.match(term):
        return m.group(1) == driver
    if m := _CEL_ATTR.match(term):
        domain, attr, wanted = m.group(1), m.group(2), m.group(3) if m.group(3) is not None else m.group(4)
        attrs = as_map(device.get("attributes"))
        raw = attrs.get(f"{domain}/{attr}") or (attrs.get(attr) if domain == driver else None)
        value = _attr_value(raw) if isinstance(raw, Mapping) else None
        return value is not None and str(value).lower() == str(wanted).lower()
    return None


def cel_selects(expression: str, driver: str, device: Mapping[str, Any]) -> bool | None:
    """Whether a DeviceClass selector expression selects this device of `driver`; None when no term of it is one
    we evaluate (then we cannot say)."""
    verdicts: list[bool] = []
    for alternative in expression.split("||"):
        results = [_term_matches(t.strip().strip("()").strip(), driver, device) for t in alternative.split("&&")]
        known = [r for r in results if r is not None]
        if known:
            verdicts.append(all(known))
    return any(verdicts) if verdicts else None


def class_selects(dc: Obj, rs: Obj, device: Mapping[str, Any]) -> bool | None:
    """A DeviceClass's selectors (all must hold) on one published device; no selectors select every device."""
    results = [
        cel_selects(str(as_map(as_map(sel).get("cel")).get("expression", "")), slice_driver(rs), device)
        for sel in as_list(spec_of(dc).get("selectors"))
    ]
    if any(r is False for r in results):
        return False
    if results and all(r is None for r in results):
        return None
    return True


def class_devices(dc: Obj, slices: Iterable[Obj]) -> tuple[int, bool]:
    """(devices of `slices` the class selects, whether its selectors could be evaluated at all)."""
    count, evaluable = 0, True
    for rs in slices:
        for dev in devices(rs):
            selected = class_selects(dc, rs, dev)
            if selected is None:
                evaluable = False
            elif selected:
                count += 1
    return count, evaluable


# ---------------------------------------------------------------------------------------------------------------
# Accelerator nodes: recognised by what they expose, not by a label we hope is there

# Extended resources of accelerator device plugins (allocatable/capacity): exact names and name prefixes.
ACCELERATOR_RESOURCES = frozenset(
    {"nvidia.com/gpu", "nvidia.com/gpu.shared", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi"}
)
ACCELERATOR_RESOURCE_PREFIXES = ("nvidia.com/mig-", "gpu.intel.com/", "aws.amazon.com/neuron")
# Labels the clouds and node provisioners set on accelerator nodes (any non-empty value) ...
ACCELERATOR_LABELS = (
    "cloud.google.com/gke-accelerator",  # GKE GPU node pools: nvidia-l4, nvidia-h100-80gb, ...
    "cloud.google.com/gke-tpu-accelerator",  # GKE TPU node pools
    "k8s.amazonaws.com/accelerator",  # EKS node groups (the cluster-autoscaler convention)
    "kubernetes.azure.com/accelerator",  # AKS GPU node pools: nvidia
)
# ... counts that must be positive (EKS Auto Mode, Karpenter on AWS) ...
ACCELERATOR_COUNT_LABELS = (
    "eks.amazonaws.com/instance-gpu-count",
    "karpenter.k8s.aws/instance-gpu-count",
    "karpenter.k8s.aws/instance-accelerator-count",
)
GFD_PRESENT_LABEL = "nvidia.com/gpu.present"
# ... and Node Feature Discovery's PCI labels of GPU vendors (NVIDIA 10de, AMD 1002), class prefix optional.
_NFD_GPU_PCI = re.compile(r"^feature\.node\.kubernetes\.io/pci-(?:[0-9a-f]{4}_)?(?:10de|1002)\.present$")
# DRA drivers of accelerator vendors → vendor. NIC drivers (dra.net, SR-IOV), NVIDIA's compute-domain driver
# (IMEX channels) and example drivers publish no accelerators.
ACCELERATOR_DRA_DRIVERS: Mapping[str, str] = {
    "gpu.nvidia.com": "nvidia",
    "gpu.amd.com": "amd",
    "gpu.intel.com": "intel",
    "gaudi.intel.com": "intel",
    "tpu.google.com": "google",
    "neuron.aws.com": "aws",
}


def is_accelerator_driver(driver: str) -> bool:
    return driver in ACCELERATOR_DRA_DRIVERS


def is_accelerator_resource(resource: str) -> bool:
    return resource in ACCELERATOR_RESOURCES or resource.startswith(ACCELERATOR_RESOURCE_PREFIXES)


def accelerator_resources(node: Obj) -> dict[str, int]:
    """Accelerator extended resources the kubelet advertises for the node (allocatable, else capacity), > 0."""
    st = status_of(node)
    out: dict[str, int] = {}
    for part in ("capacity", "allocatable"):  # allocatable wins where both are set
        for key, value in as_map(st.get(part)).items():
            if is_accelerator_resource(str(key)) and to_int(value) > 0:
                out[str(key)] = to_int(value)
    return out


def accelerator_labels(node: Obj) -> list[str]:
    """`key=value` of the accelerator labels the node carries."""
    node_labels = labels(node)
    out = [f"{k}={node_labels[k]}" for k in ACCELERATOR_LABELS if node_labels.get(k)]
    out += [f"{k}={node_labels[k]}" for k in ACCELERATOR_COUNT_LABELS if to_int(node_labels.get(k)) > 0]
    if node_labels.get(GFD_PRESENT_LABEL) == "true":
        out.append(f"{GFD_PRESENT_LABEL}=true")
    out += [f"{k}=true" for k, v in sorted(node_labels.items()) if _NFD_GPU_PCI.match(k) and v == "true"]
    return out


def node_ready(node: Obj) -> bool:
    """The kubelet reports the node Ready: what it advertises (allocatable) is current."""
    return condition_true(node, "Ready")


@dataclass(frozen=True)
class AcceleratorFleet:
    """The accelerator nodes the checks judge: every node exposing an accelerator (extended resource, cloud or
    discovery label, a ResourceSlice of an accelerator DRA driver) plus every node spec.accelerators.nodeSelector
    selects (the profile says they are). Nodes with accelerators outside the selector are judged too, and named."""

    nodes: tuple[Obj, ...]
    exposes: Mapping[str, tuple[str, ...]]  # node → what shows it has accelerators (empty: only selected)
    outside_selector: tuple[str, ...]  # nodes with accelerators that spec.accelerators.nodeSelector misses

    @property
    def names(self) -> list[str]:
        return [name(n) for n in self.nodes]

    def note(self) -> str:
        """What the message adds about accelerator nodes outside spec.accelerators.nodeSelector ("" if none)."""
        if not self.outside_selector:
            return ""
        count = plural(len(self.outside_selector), "accelerator node")
        return (
            f"; judged although outside spec.accelerators.nodeSelector: {count} ({names_list(self.outside_selector)})"
            " — the components (exporter, queues, DRA plugin) do not reach them; widen the selector"
        )

    def evidence(self) -> list[str]:
        entries = [f"Node/{n} outside nodeSelector: {', '.join(self.exposes[n][:2])}" for n in self.outside_selector]
        return list(capped(entries))


def accelerator_fleet(snapshot: Snapshot, spec: ProfileSpec) -> AcceleratorFleet:
    selector = spec.accelerators.node_selector
    dra = slices_by_node(snapshot, accelerators_only=True)
    exposes: dict[str, tuple[str, ...]] = {}
    chosen: list[Obj] = []
    outside: list[str] = []
    for node in sorted(snapshot.nodes, key=name):
        node_name = name(node)
        why = [f"{k}={v}" for k, v in sorted(accelerator_resources(node).items())]
        why += accelerator_labels(node)
        why += [f"ResourceSlice/{name(rs)} ({slice_driver(rs)})" for rs in dra.get(node_name, []) if devices(rs)]
        selected = selector.matches(labels(node))
        if why or selected:
            chosen.append(node)
            exposes[node_name] = tuple(why)
        if why and not selected:
            outside.append(node_name)
    return AcceleratorFleet(tuple(chosen), exposes, tuple(outside))


def no_accelerator_nodes_message(spec: ProfileSpec) -> str:
    sel = spec.accelerators.node_selector
    return (
        "no accelerator node found: no node advertises an accelerator resource (nvidia.com/gpu, nvidia.com/mig-*, "
        "amd.com/gpu, gpu.intel.com/*, google.com/tpu, aws.amazon.com/neuron*), carries a cloud accelerator label "
        "or has a ResourceSlice of an accelerator DRA driver, and none matches spec.accelerators.nodeSelector "
        f"{selector_text(sel.match_labels, len(sel.match_expressions))}"
    )


def no_accelerator_nodes(requirement: str, spec: ProfileSpec) -> Verdict:
    """`NoAcceleratorNodes` (condition Unknown): the accelerator requirements cannot be evaluated. Never N/A by
    itself: a cluster without accelerators says so in spec.requirements, with notes."""
    return Verdict(
        requirement,
        NOT_IMPLEMENTED,
        NO_ACCELERATOR_NODES,
        f"{no_accelerator_nodes_message(spec)}: this requirement cannot be evaluated; if the cluster has no "
        f"accelerators, declare spec.requirements.{requirement} N/A with notes",
    )


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
    """A software stack recognized by its CRDs, its controller Deployment (by name under any Helm release
    prefix, labels or image) and the webhooks of its API groups."""

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
    # The statuses its controller wrote (filled by the check, which knows what the controller reconciles).
    reconciled: Reconciliation = Reconciliation()

    @property
    def healthy(self) -> bool:
        """Nothing wrong as far as the API shows (presence at least; `live` says whether a status vouches)."""
        return self.present and not self.problems

    @property
    def live(self) -> bool:
        """Healthy, and a current status written by its controller vouches for it, with nothing it neglected."""
        return self.healthy and bool(self.reconciled.live) and not self.reconciled.neglected

    def with_reconciliation(self, reconciled: Reconciliation) -> StackHealth:
        return dataclasses.replace(self, reconciled=self.reconciled + reconciled)


def deployment_named(*names: str) -> Callable[[Obj], bool]:
    """A controller Deployment by name, also under a Helm release prefix (`<release>-<name>`)."""
    return ControllerMatch(names=names)


def deployment_name_contains(fragment: str) -> Callable[[Obj], bool]:
    return ControllerMatch(name_contains=(fragment,))


def assess_stack(snapshot: Snapshot, stack: Stack) -> StackHealth:
    """CRDs Established (`CRDsMissing`), a controller Deployment not down (`ControllerUnavailable` when every
    matching Deployment has 0 available replicas), webhooks backed by a Service (`WebhookServiceMissing`).

    A Deployment that is not found is not a problem by itself (a controller may run under a name, label and
    image we do not know, or outside the cluster): what vouches for a controller is the status it writes
    (`StackHealth.reconciled`), which the check adds."""
    problems: list[Problem] = []
    evidence: list[str] = []
    missing = crd_problems(snapshot, stack.crds)
    if missing:
        problems.append(Problem(CRDS_MISSING, f"{stack.label} CRDs missing: {names_list(missing)}"))
    else:
        evidence += crd_evidence(stack.crds)
    controller = lookup_controller(snapshot, stack.controller)
    if controller.available is not None:
        evidence.append(deployment_state(controller.available))
    elif controller.unavailable:
        problems.append(
            Problem(
                CONTROLLER_UNAVAILABLE, controller.describe_missing(f"{stack.label} controller {stack.controller_name}")
            )
        )
    hooks, hook_evidence = webhook_service_problems(snapshot, stack.webhook_groups)
    if hooks:
        problems.append(Problem(WEBHOOK_SERVICE_MISSING, f"{stack.label} {webhook_problem(hooks)}"))
    evidence += capped(hook_evidence, 3)
    present = any_crd_present(snapshot, stack.crds) if stack.crds else controller.found
    return StackHealth(stack, present, tuple(problems), tuple(evidence))


def controller_found(snapshot: Snapshot, stack: Stack) -> bool:
    return lookup_controller(snapshot, stack.controller).found


# ---------------------------------------------------------------------------------------------------------------
# Verdicts by evidence


def presence_only(requirement: str, message: str, evidence: Sequence[str], faults: Sequence[str] = ()) -> Verdict:
    """Looks Implemented, but only objects were seen: Partially Implemented, `PresenceOnly`, tier APIPresence.
    `message` says what was seen and what the next tier needs."""
    return Verdict(requirement, PARTIAL, PRESENCE_ONLY, message, tuple(evidence), faults=tuple(faults))


def unless_unreadable(verdict: Verdict, snapshot: Snapshot, *keys: str) -> Verdict:
    """The verdict, or `Unreadable` when it is not Implemented and a source it reads could not be read.

    A source that could not be read is empty in the snapshot, and an empty source only ever makes these checks'
    verdicts worse (fewer live statuses, more "absent"), so an Implemented verdict stands on what could be read;
    anything less might be the blindness talking. What the check did find is kept in the message and faults."""
    if verdict.status == IMPLEMENTED or verdict.status == NOT_APPLICABLE:
        return verdict
    blind = unreadable(verdict.requirement, snapshot, *keys)
    if blind is None:
        return verdict
    return dataclasses.replace(
        blind,
        message=f"{blind.message}; with what could be read: {verdict.message}",
        evidence=blind.evidence + verdict.evidence,
        faults=verdict.faults,
        tier=verdict.tier,
    )
