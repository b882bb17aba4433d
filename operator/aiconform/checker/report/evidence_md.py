"""One evidence file per requirement (`evidence/<id>.md`): the verdict and what proved it, for human reviewers.

Pure: (requirement, verdict, snapshot, context) → Markdown. The file holds

- the verdict: status, evidence tier, reason, message, the objects at fault, whether it was declared;
- the evidence entries the check gave, and short YAML excerpts of the objects they name (only the fields that
  matter for a conformance reviewer: conditions, the spec fields the checks read, versions; never whole objects,
  never timestamps, so the same cluster gives the same file);
- probe transcripts, when the verdict carries them (`transcripts`: strings, or objects/mappings with
  `title`/`command`/`output`);
- the declared evidence (URLs and copied files) when spec.requirements declares the requirement;
- the cluster's version, the aiconform version, the checklist version and the evaluation time.

Everything goes through `redact` before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from aiconform.checker.report import VerdictView
from aiconform.checker.report.redact import redact_object, redact_text
from aiconform.conformance.catalog import Requirement
from aiconform.kube.snapshot import Obj, Snapshot

__all__ = [
    "EVALUATED_AT_LABEL",
    "EvidenceContext",
    "find_objects",
    "object_excerpt",
    "render_evidence",
    "transcripts_of",
]

MAX_OBJECTS = 12  # excerpts per evidence file
MAX_LIST = 6  # items of a list inside one excerpt (devices, containers, conditions, …)
EVALUATED_AT_LABEL = "Evaluated at"

TIER_MEANING: Mapping[str, str] = {
    "Observed": "a probe ran a canary and saw the behaviour",
    "ControllerStatus": "a status the responsible controller wrote, current for the object's generation",
    "APIPresence": "the objects exist in the API (anyone can create them: not proof of behaviour)",
    "Declared": "declared in the ConformanceProfile's spec.requirements, for what the API cannot show",
}


@dataclass(frozen=True)
class EvidenceContext:
    server_version: str | None
    aiconform_version: str
    checklist_version: str
    evaluated_at: str  # RFC 3339, UTC
    draft: bool = False


# ---------------------------------------------------------------------------------------------------------------
# Finding the objects an evidence entry names

# Kind → Snapshot field, for the built-in kinds the checks cite.
_KIND_FIELDS: Mapping[str, str] = {
    "Namespace": "namespaces",
    "Node": "nodes",
    "CRD": "crds",
    "CustomResourceDefinition": "crds",
    "APIService": "apiservices",
    "ResourceSlice": "resource_slices",
    "DeviceClass": "device_classes",
    "Deployment": "deployments",
    "DaemonSet": "daemonsets",
    "Pod": "pods",
    "Service": "services",
    "HPA": "hpas",
    "HorizontalPodAutoscaler": "hpas",
    "ValidatingAdmissionPolicy": "validating_admission_policies",
    "ValidatingAdmissionPolicyBinding": "validating_admission_policy_bindings",
    "ValidatingWebhookConfiguration": "validating_webhooks",
}
_NAME = r"[A-Za-z0-9][-A-Za-z0-9_.:]*"
_REF = re.compile(rf"(?<![\w./-])([A-Z][A-Za-z0-9]+)/({_NAME})(?:/({_NAME}))?")
_CRD = re.compile(r"\bCRD ([a-z0-9][-a-z0-9.]*[a-z0-9])")


def _meta(obj: Obj) -> Mapping[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def _custom_key_for_kind(snapshot: Snapshot, kind: str) -> list[str]:
    keys = []
    for crd in snapshot.crds:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        if names.get("kind") == kind:
            keys.append(f"{names.get('plural')}.{spec.get('group')}")
    return keys


def _candidates(snapshot: Snapshot, kind: str) -> Iterable[Obj]:
    field = _KIND_FIELDS.get(kind)
    if field is not None:
        return tuple(getattr(snapshot, field))
    found: list[Obj] = []
    for key in _custom_key_for_kind(snapshot, kind):
        found.extend(snapshot.objects(key))
    if not found:  # objects that carry their kind (not every LIST item does)
        found = [o for objs in snapshot.custom.values() for o in objs if o.get("kind") == kind]
    return found


def _lookup(snapshot: Snapshot, kind: str, first: str, second: str | None) -> Obj | None:
    namespace, name = (first, second) if second else (None, first)
    for obj in _candidates(snapshot, kind):
        meta = _meta(obj)
        if meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    return None


def find_objects(entries: Sequence[str], snapshot: Snapshot) -> list[tuple[str, Obj]]:
    """(Kind, object) for every object the evidence entries name that the snapshot holds; first mention first."""
    found: list[tuple[str, Obj]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(kind: str, obj: Obj | None) -> None:
        if obj is None:
            return
        key = (_KIND_FIELDS.get(kind, kind), str(_meta(obj).get("namespace", "")), str(_meta(obj).get("name", "")))
        if key not in seen:
            seen.add(key)
            found.append(("CustomResourceDefinition" if kind == "CRD" else kind, obj))

    for entry in entries:
        for m in _CRD.finditer(entry):
            add("CRD", snapshot.crd(m.group(1)))
        for m in _REF.finditer(entry):
            kind, first, second = m.group(1), m.group(2), m.group(3)
            if kind == "CRD":
                continue
            add(kind, _lookup(snapshot, kind, first, second))
    return found


# ---------------------------------------------------------------------------------------------------------------
# Excerpts: the fields that matter, never the whole object


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _cap(items: Any, limit: int = MAX_LIST) -> Any:
    if not isinstance(items, list) or len(items) <= limit:
        return items
    return [*items[:limit], f"... and {len(items) - limit} more"]


def _conditions(obj: Obj) -> list[dict[str, Any]] | None:
    conds = _get(obj, "status.conditions")
    if not isinstance(conds, list) or not conds:
        return None
    keep = ("type", "status", "reason", "observedGeneration")
    out = [{k: c[k] for k in keep if k in c} for c in conds if isinstance(c, Mapping)]
    return sorted(out, key=lambda c: str(c.get("type", "")))


def _scalars(section: Any) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        return {}
    return {k: v for k, v in section.items() if isinstance(v, str | int | float | bool)}


_K8S_PREFIX = re.compile(r"^(?:[^/]*\.)?(?:kubernetes\.io|k8s\.io)/")


def _accelerator_keys(mapping: Any) -> dict[str, Any]:
    """Labels or resources of accelerators and their features (vendor-prefixed keys)."""
    if not isinstance(mapping, Mapping):
        return {}
    return {k: v for k, v in sorted(mapping.items()) if "/" in k and not _K8S_PREFIX.match(k)}


def _containers(pod_spec: Any) -> list[dict[str, Any]] | None:
    if not isinstance(pod_spec, Mapping):
        return None
    out = []
    for c in pod_spec.get("containers") or []:
        if isinstance(c, Mapping):
            # Never env, args or command (they may carry credentials): what runs, what it asks for, how.
            kept = {k: c[k] for k in ("name", "image", "resources", "securityContext") if c.get(k)}
            out.append(kept)
    return _cap(out) or None


def _device(dev: Any) -> Any:
    if not isinstance(dev, Mapping):
        return dev
    out: dict[str, Any] = {"name": dev.get("name")}
    attrs = dev.get("attributes")
    if isinstance(attrs, Mapping) and attrs:
        out["attributes"] = dict(sorted(attrs.items()))
    if dev.get("capacity"):
        out["capacity"] = dev["capacity"]
    return out


def _specific(kind: str, obj: Obj) -> dict[str, Any]:
    raw_spec, raw_status = obj.get("spec"), obj.get("status")
    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
    status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
    out: dict[str, Any] = {}
    if kind == "Node":
        labels = _accelerator_keys(_meta(obj).get("labels"))
        out["metadata.labels"] = labels or None
        out["spec.taints"] = _cap(spec.get("taints"))
        out["status.allocatable"] = _accelerator_keys(status.get("allocatable")) or None
    elif kind == "ResourceSlice":
        out["spec"] = {
            "driver": spec.get("driver"),
            "nodeName": spec.get("nodeName"),
            "pool": spec.get("pool"),
            "devices": _cap([_device(d) for d in spec.get("devices") or []], 4),
        }
    elif kind == "DeviceClass":
        out["spec"] = {k: spec[k] for k in ("selectors", "extendedResourceName") if k in spec}
    elif kind == "CustomResourceDefinition":
        versions = [{k: v.get(k) for k in ("name", "served", "storage")} for v in spec.get("versions") or []]
        out["spec"] = {"group": spec.get("group"), "names": {"kind": _get(spec, "names.kind")}, "versions": versions}
    elif kind == "Pod":
        out["metadata.labels"] = dict(sorted((_meta(obj).get("labels") or {}).items())) or None
        out["spec"] = {"nodeName": spec.get("nodeName"), "containers": _containers(spec)}
        out["status.phase"] = status.get("phase")
    elif kind in ("Deployment", "DaemonSet"):
        template = _get(obj, "spec.template.spec")
        out["spec"] = {
            **({"replicas": spec["replicas"]} if "replicas" in spec else {}),
            "template.spec.containers": _containers(template),
        }
        if isinstance(template, Mapping) and template.get("nodeSelector"):
            out["spec"]["template.spec.nodeSelector"] = template["nodeSelector"]
        out["status"] = _scalars(status) or None
    elif kind == "Service":
        out["spec"] = {"selector": spec.get("selector"), "ports": _cap(spec.get("ports"))}
    elif kind == "APIService":
        out["spec"] = {k: spec.get(k) for k in ("group", "version", "service") if spec.get(k) is not None}
    elif kind in ("HPA", "HorizontalPodAutoscaler"):
        out["spec"] = {k: spec.get(k) for k in ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics")}
        out["status"] = _scalars(status) or None
    elif kind == "ValidatingAdmissionPolicy":
        out["spec"] = {
            "failurePolicy": spec.get("failurePolicy"),
            "matchConstraints": spec.get("matchConstraints"),
            "validations": _cap(spec.get("validations")),
        }
    elif kind == "ValidatingAdmissionPolicyBinding":
        out["spec"] = {k: spec.get(k) for k in ("policyName", "validationActions", "matchResources")}
    elif kind == "ValidatingWebhookConfiguration":
        hooks = obj.get("webhooks") or []
        out["webhooks"] = _cap(
            [{k: h.get(k) for k in ("name", "failurePolicy", "rules")} for h in hooks if isinstance(h, Mapping)]
        )
    else:  # custom resources: the spec's and status's plain fields tell what it is and whether it is healthy
        if kind == "ClusterQueue" and spec.get("resourceGroups"):
            out["spec.resourceGroups"] = _cap(spec.get("resourceGroups"))
        out["spec"] = _scalars(spec) or None
        out["status"] = _scalars(status) or None
    return out


def _prune(value: Any) -> Any:
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def object_excerpt(kind: str, obj: Obj) -> dict[str, Any]:
    """The fields of `obj` that matter for its requirement, redacted; no timestamps, no whole objects."""
    meta = _meta(obj)
    out: dict[str, Any] = {"kind": kind}
    if obj.get("apiVersion"):
        out = {"apiVersion": obj["apiVersion"], **out}
    out["metadata"] = {k: meta[k] for k in ("namespace", "name", "generation") if k in meta}
    out.update(_specific(kind, obj))
    conds = _conditions(obj)
    if kind == "Node" and conds:  # the pressure conditions say nothing about conformance
        conds = [c for c in conds if c.get("type") == "Ready"]
    if conds:
        out["status.conditions"] = _cap(conds, 10)
    pruned = _prune(out)
    return dict(redact_object(pruned))


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _yaml(data: Any) -> str:
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)).rstrip("\n")


# ---------------------------------------------------------------------------------------------------------------
# Probe transcripts (a verdict field to come): rendered whenever a verdict carries one


def transcripts_of(verdict: Any) -> list[tuple[str, str]]:
    """(title, text) of each probe transcript the verdict carries (`transcripts` or `transcript`), if any."""
    raw = getattr(verdict, "transcripts", None)
    if raw is None:
        raw = getattr(verdict, "transcript", None)
    if not raw:
        return []
    if isinstance(raw, str | Mapping):
        raw = [raw]
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw, 1):
        if isinstance(item, str):
            out.append((f"Probe {i}", item))
            continue
        get = item.get if isinstance(item, Mapping) else lambda k, _item=item: getattr(_item, k, None)
        title = str(get("title") or get("name") or f"Probe {i}")
        parts = []
        if get("command"):
            parts.append(f"$ {get('command')}")
        for field in ("output", "text", "log"):
            if get(field):
                parts.append(str(get(field)).rstrip("\n"))
        if get("result"):
            parts.append(f"result: {get('result')}")
        out.append((title, "\n".join(parts)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The file


def _inline(text: str) -> str:
    """One-line text safe inside a Markdown table cell or list item."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _fence(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def render_evidence(
    req: Requirement,
    verdict: VerdictView,
    snapshot: Snapshot,
    ctx: EvidenceContext,
    *,
    declared_links: Sequence[tuple[str, str]] = (),
) -> str:
    """The Markdown evidence file of one requirement (redacted).

    `declared_links`: (label, relative link from this file) for each URL or copied file a declaration gave.
    """
    tier = getattr(verdict, "tier", "") or ""
    faults: Sequence[str] = getattr(verdict, "faults", ()) or ()
    lines = [f"# {req.id}: {verdict.status}", ""]
    if ctx.draft:
        lines += [
            "> **DRAFT** — exported with `--allow-unmet`: not every MUST is Implemented, so "
            "cncf/k8s-ai-conformance will not accept this submission yet.",
            "",
        ]
    lines += ["> " + _inline(req.description), ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| Requirement | {_code(req.id)} — {req.level}{' (conditional)' if req.conditional else ''}, "
        f"category {_code(req.category)} |",
        f"| Status | **{verdict.status}** |",
        f"| Evidence tier | {tier or 'unknown'}{' — ' + TIER_MEANING[tier] if tier in TIER_MEANING else ''} |",
        f"| Reason | {_code(verdict.reason)} |",
        f"| Declared in spec.requirements | {'yes' if verdict.declared else 'no'} |",
        f"| Checklist | {ctx.checklist_version} |",
        f"| Cluster | Kubernetes {ctx.server_version or 'unknown'} |",
        f"| aiconform | {ctx.aiconform_version} |",
        f"| {EVALUATED_AT_LABEL} | {ctx.evaluated_at} |",
        "",
        "## Verdict",
        "",
        _inline(verdict.message) or "(no message)",
        "",
    ]
    if faults:
        lines += ["## Objects at fault", ""] + [f"- {_inline(f)}" for f in faults] + [""]
    entries = [e for e in verdict.evidence if e]
    lines += ["## Evidence", ""]
    lines += [f"- {_code(_inline(e))}" for e in entries] if entries else ["(none)"]
    lines.append("")
    objects = find_objects(entries, snapshot)
    if objects:
        lines += ["## Objects", "", "The fields of each cited object the verdict rests on, as the API served them.", ""]
        for kind, obj in objects[:MAX_OBJECTS]:
            meta = _meta(obj)
            ns = meta.get("namespace")
            title = f"{kind}/{ns}/{meta.get('name')}" if ns else f"{kind}/{meta.get('name')}"
            lines += [f"### {_inline(title)}", "", _fence(_yaml(object_excerpt(kind, obj)), "yaml"), ""]
        if len(objects) > MAX_OBJECTS:
            lines += [f"... and {len(objects) - MAX_OBJECTS} more objects", ""]
    transcripts = transcripts_of(verdict)
    if transcripts:
        lines += ["## Probe transcripts", ""]
        for title, text in transcripts:
            lines += [f"### {_inline(title)}", "", _fence(text.rstrip("\n") or "(empty)", "text"), ""]
    if declared_links:
        lines += ["## Declared evidence", "", "Given in the ConformanceProfile's spec.requirements:", ""]
        lines += [f"- [{_inline(label)}]({link})" for label, link in declared_links]
        lines.append("")
    return redact_text("\n".join(lines).rstrip("\n") + "\n")
