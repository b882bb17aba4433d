"""The rules of cncf/k8s-ai-conformance `scripts/validate.go` that can be checked offline, on a parsed PRODUCT.yaml.

validate.go (run by that repository's CI on every changed PRODUCT.yaml) checks, in this order:

- the version comes from the path: `vX.Y/<product>/PRODUCT.yaml`, and `docs/AIConformance-X.Y.yaml` must exist;
- `metadata`: every field below present (camelCase or snake_case), a string, not empty, not a `[placeholder]`;
  `repoUrl` is optional; `k8sConformanceUrl` is required for every version and must match
  `https://github.com/cncf/k8s-conformance/tree/(master|main)/vX.Y/<product>`; URLs must answer (online);
  `vendorName` must be a CNCF member (online);
- `spec`: every category and id of the template present; a SHOULD with neither status nor evidence is skipped;
  status in the vocabulary; a MUST must be `Implemented`; `N/A` needs notes; every evidence entry is an
  `http://`/`https://` URL (which must answer, online) or a file that exists relative to PRODUCT.yaml's directory.

`check_product` returns one `Finding` per problem, structured (rule, subject) so the caller can name the flag or
field that fixes it. The online rules are not checked; `ONLINE_RULES` says what they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiconform.conformance.catalog import requirements_for

__all__ = [
    "ONLINE_RULES",
    "VALIDATOR_METADATA",
    "Finding",
    "check_product",
    "is_url",
    "version_from_path",
]

# validate.go's metadataFields: field → required.
VALIDATOR_METADATA: Mapping[str, bool] = {
    "kubernetesVersion": True,
    "platformName": True,
    "platformVersion": True,
    "vendorName": True,
    "websiteUrl": True,
    "repoUrl": False,
    "documentationUrl": True,
    "productLogoUrl": True,
    "description": True,
    "contactEmailAddress": True,
    "k8sConformanceUrl": True,
}
VALID_STATUSES = frozenset({"Implemented", "Not Implemented", "Partially Implemented", "N/A"})
K8S_CONFORMANCE_URL_RE = re.compile(r"^https://github\.com/cncf/k8s-conformance/tree/(master|main)/v\d+\.\d+/[^/]+/?$")
_PATH_VERSION_RE = re.compile(r"(?:^|/)(v\d+\.\d+)/")
ONLINE_RULES = (
    "every http(s) URL in metadata and evidence must answer a HEAD or GET below HTTP 400",
    "vendorName must exactly match a CNCF member's name at https://landscape.cncf.io/members",
)

# Rules (Finding.rule)
METADATA_MISSING = "metadata-missing"
METADATA_NOT_STRING = "metadata-not-string"
METADATA_EMPTY = "metadata-empty"
METADATA_PLACEHOLDER = "metadata-placeholder"
K8S_CONFORMANCE_URL_FORMAT = "k8s-conformance-url-format"
SPEC_MISSING = "spec-missing"
CATEGORY_MISSING = "category-missing"
REQUIREMENT_MISSING = "requirement-missing"
STATUS_INVALID = "status-invalid"
MUST_NOT_IMPLEMENTED = "must-not-implemented"
NA_WITHOUT_NOTES = "na-without-notes"
EVIDENCE_FILE_MISSING = "evidence-file-missing"
EVIDENCE_NOT_STRING = "evidence-not-string"


@dataclass(frozen=True)
class Finding:
    """One thing validate.go would reject. `subject` is the metadata field or requirement id; `item` the value."""

    rule: str
    subject: str
    text: str
    item: str = ""


def is_url(entry: str) -> bool:
    """validate.go's test: an evidence entry is a URL when it starts with http:// or https://, else a file."""
    return entry.startswith(("http://", "https://"))


def version_from_path(path: str) -> str | None:
    """The checklist version validate.go reads from a PRODUCT.yaml path (the first `vX.Y/` in it), if any."""
    m = _PATH_VERSION_RE.search(path)
    return m.group(1) if m else None


def _snake(field: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", field)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _metadata_findings(metadata: Any) -> list[Finding]:
    if not isinstance(metadata, Mapping):
        return [Finding(METADATA_MISSING, "metadata", "Missing 'metadata' section")]
    out: list[Finding] = []
    for field, required in VALIDATOR_METADATA.items():
        value = metadata.get(field, metadata.get(_snake(field)))
        if value is None:
            if required:
                out.append(Finding(METADATA_MISSING, field, f"Missing metadata field: {field}"))
            continue
        if not isinstance(value, str):
            out.append(Finding(METADATA_NOT_STRING, field, f"Metadata field {field} is not a string", str(value)))
            continue
        if value == "":
            if required:
                out.append(Finding(METADATA_EMPTY, field, f"Metadata field {field} is empty"))
        elif value.startswith("[") and value.endswith("]"):
            out.append(Finding(METADATA_PLACEHOLDER, field, f"Metadata field {field} has placeholder value", value))
        elif field == "k8sConformanceUrl" and not K8S_CONFORMANCE_URL_RE.match(value):
            out.append(Finding(K8S_CONFORMANCE_URL_FORMAT, field, "Invalid k8sConformanceUrl format", value))
    return out


def _item_findings(
    req_id: str, level: str, item: Mapping[str, Any], file_exists: Callable[[str], bool]
) -> list[Finding]:
    status = item.get("status") or ""
    evidence = item.get("evidence") or []
    if level == "SHOULD" and status == "" and not evidence:
        return []
    out: list[Finding] = []
    if status not in VALID_STATUSES:
        out.append(Finding(STATUS_INVALID, req_id, f"Invalid status {status!r}", str(status)))
    if level == "MUST" and status != "Implemented":
        out.append(Finding(MUST_NOT_IMPLEMENTED, req_id, f"MUST level but status is {status!r}", str(status)))
    if status == "N/A" and not item.get("notes"):
        out.append(Finding(NA_WITHOUT_NOTES, req_id, "Notes required when status is N/A"))
    if not isinstance(evidence, list):
        return [*out, Finding(EVIDENCE_NOT_STRING, req_id, "evidence is not a list of strings")]
    for entry in evidence:
        if not isinstance(entry, str):
            out.append(Finding(EVIDENCE_NOT_STRING, req_id, "evidence entry is not a string", str(entry)))
        elif entry and not is_url(entry) and not file_exists(entry):
            out.append(Finding(EVIDENCE_FILE_MISSING, req_id, "evidence file not found next to PRODUCT.yaml", entry))
    return out


def check_product(doc: Any, version: str, file_exists: Callable[[str], bool]) -> list[Finding]:
    """Every offline validate.go rule, applied to a parsed PRODUCT.yaml of checklist `version`.

    `file_exists(entry)` answers whether an evidence entry names a file relative to PRODUCT.yaml's directory.
    """
    if not isinstance(doc, Mapping):
        return [Finding(SPEC_MISSING, "spec", "PRODUCT.yaml is not a mapping")]
    out = _metadata_findings(doc.get("metadata"))
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return [*out, Finding(SPEC_MISSING, "spec", "Missing 'spec' section")]
    for req in requirements_for(version):
        items = spec.get(req.category)
        if not isinstance(items, list):
            if not any(f.rule == CATEGORY_MISSING and f.subject == req.category for f in out):
                out.append(Finding(CATEGORY_MISSING, req.category, f"Missing spec category: {req.category}"))
            continue
        by_id = {i.get("id"): i for i in items if isinstance(i, Mapping)}
        item = by_id.get(req.id)
        if item is None:
            out.append(Finding(REQUIREMENT_MISSING, req.id, f"Missing requirement {req.id!r} in {req.category!r}"))
            continue
        out.extend(_item_findings(req.id, req.level, item, file_exists))
    return out
