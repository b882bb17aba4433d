"""The CNCF submission file (PRODUCT.yaml), shaped exactly like the checklist template of the evaluated version.

`metadata` carries the template's keys in template order; `spec` has the template's categories and items in
order, with `id`, `description` and `level` copied from the catalog (which holds the checklists verbatim), and
`status`, `evidence` and `notes` from the evaluation. The rules mirror `scripts/validate.go` of
cncf/k8s-ai-conformance where they can be checked offline: required metadata must be a non-empty string that is
not a `[...]` placeholder, `repoUrl` is optional, `k8sConformanceUrl` must point at a k8s-conformance
submission and `productLogoUrl` at an SVG, EPS or AI file. Reachability of URLs is not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from aiconform import __version__
from aiconform.checker.report import EvaluationView, VerdictView
from aiconform.conformance.catalog import CATEGORIES, requirements_for

__all__ = [
    "METADATA_KEYS",
    "OPTIONAL_METADATA",
    "PLACEHOLDERS",
    "MetadataError",
    "flag_for",
    "metadata_keys",
    "metadata_problems",
    "normalize_metadata",
    "render_product_yaml",
]

# The metadata keys of each checklist template (cncf/k8s-ai-conformance docs/AIConformance-1.3x.yaml), in order.
_BASE_KEYS: tuple[str, ...] = (
    "kubernetesVersion",
    "platformName",
    "platformVersion",
    "vendorName",
    "websiteUrl",
    "repoUrl",
    "documentationUrl",
    "productLogoUrl",
    "description",
    "contactEmailAddress",
)
K8S_CONFORMANCE_URL = "k8sConformanceUrl"
METADATA_KEYS: Mapping[str, tuple[str, ...]] = {
    "v1.33": _BASE_KEYS,
    "v1.34": _BASE_KEYS,
    "v1.35": (*_BASE_KEYS, K8S_CONFORMANCE_URL),
    "v1.36": _BASE_KEYS,
}
ALL_METADATA_KEYS: tuple[str, ...] = (*_BASE_KEYS, K8S_CONFORMANCE_URL)
# validate.go treats repoUrl as optional; kubernetesVersion is the evaluated version, never asked for.
OPTIONAL_METADATA: frozenset[str] = frozenset({"repoUrl"})
DERIVED_METADATA: frozenset[str] = frozenset({"kubernetesVersion"})

_PLACEHOLDER = re.compile(r"^\[.*\]$", re.DOTALL)
_K8S_CONFORMANCE_URL_RE = re.compile(r"^https://github\.com/cncf/k8s-conformance/tree/(master|main)/v\d+\.\d+/[^/]+/?$")
_LOGO_SUFFIXES = (".svg", ".eps", ".ai")
DECLARED_NOTE = "Declared."
# What the templates put in each field before it is filled in (productLogoUrl fixed: the template repeats
# "[Documentation URL]" there).
PLACEHOLDERS: Mapping[str, str] = {
    "platformName": "[Platform Name]",
    "platformVersion": "[Platform Version]",
    "vendorName": "[Vendor Name]",
    "websiteUrl": "[Website URL]",
    "repoUrl": "[Repository URL]",
    "documentationUrl": "[Documentation URL]",
    "productLogoUrl": "[Product Logo URL]",
    "description": "[Description]",
    "contactEmailAddress": "[Contact Email Address]",
    K8S_CONFORMANCE_URL: "[URL to k8s-conformance submission, e.g., "
    "https://github.com/cncf/k8s-conformance/tree/master/v1.NN/product-name]",
}


class MetadataError(Exception):
    """Metadata is missing or invalid; `problems` has one line per field, naming the flag that sets it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def metadata_keys(version: str) -> tuple[str, ...]:
    """The template's metadata keys for a checklist version (KeyError if the version is unknown)."""
    return METADATA_KEYS[version]


def flag_for(key: str) -> str:
    """The `aiconform export` flag that sets a metadata key: platformName → --platform-name."""
    return "--" + re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


_BY_ALIAS: Mapping[str, str] = {**{k: k for k in ALL_METADATA_KEYS}, **{_snake(k): k for k in ALL_METADATA_KEYS}}


def normalize_metadata(raw: Mapping[str, Any]) -> dict[str, str]:
    """camelCase keys (snake_case aliases accepted, as validate.go does); numbers become strings.

    Unknown keys and values that are not scalars raise MetadataError, so a typo is not silently dropped.
    """
    out: dict[str, str] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = _BY_ALIAS.get(str(key))
        if name is None:
            problems.append(f"unknown metadata field {key!r}; known fields: {', '.join(ALL_METADATA_KEYS)}")
            continue
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(f"metadata field {name} must be a string (set it with {flag_for(name)})")
            continue
        out[name] = str(value).strip()
    if problems:
        raise MetadataError(problems)
    return out


def metadata_problems(version: str, metadata: Mapping[str, str], keys: Sequence[str] | None = None) -> list[str]:
    """One line per missing or invalid field of `keys` (default: the version's template keys)."""
    problems: list[str] = []
    for key in keys if keys is not None else metadata_keys(version):
        value = metadata.get(key, "")
        if key in DERIVED_METADATA:
            if value and value != version:
                problems.append(f"metadata field {key} is {value!r} but the evaluated checklist is {version}")
            continue
        if _PLACEHOLDER.match(value):
            problems.append(f"metadata field {key} is a template placeholder {value!r}: pass {flag_for(key)}")
            continue
        if not value:
            if key not in OPTIONAL_METADATA:
                problems.append(f"missing metadata field {key}: pass {flag_for(key)} or set it in --metadata")
            continue
        if key == K8S_CONFORMANCE_URL and not _K8S_CONFORMANCE_URL_RE.match(value):
            problems.append(
                f"metadata field {key} must look like https://github.com/cncf/k8s-conformance/tree/main/v1.NN/PRODUCT"
                f" (got {value!r}; set it with {flag_for(key)})"
            )
        if key == "productLogoUrl" and value.startswith("http") and not value.lower().endswith(_LOGO_SUFFIXES):
            problems.append(
                f"metadata field {key} must link to an SVG, EPS or AI file (got {value!r}; set it with {flag_for(key)})"
            )
    return problems


def _notes(v: VerdictView) -> str:
    parts = [v.message.strip()] if v.message.strip() else []
    if v.declared:
        parts.append(DECLARED_NOTE)
    if not parts and v.status == "N/A":
        parts.append(v.reason)  # validate.go requires notes for N/A
    return " ".join(parts)


# Words YAML 1.1 would read as booleans or null if left unquoted.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, lists indented under their key like the templates."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Like the templates: identifiers (ids, levels, one-word statuses) and versions plain, free text double-quoted.
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|v\d+\.\d+", data) and data.lower() not in _YAML_WORDS
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=None if plain else '"')


_Dumper.add_representer(str, _str_presenter)


def _dump(data: Mapping[str, Any]) -> str:
    return str(yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000))


def render_product_yaml(
    evaluation: EvaluationView,
    version: str,
    metadata: Mapping[str, str],
    *,
    draft: bool = False,
    evidence: Mapping[str, Sequence[str]] | None = None,
    banner: str = "",
    check_metadata: bool = True,
) -> str:
    """PRODUCT.yaml text for `version`; raises MetadataError listing every missing or invalid field.

    `draft`: missing fields get the template's `[...]` placeholders instead of an error (a file to finish by hand;
    validate.go rejects placeholders).
    `evidence`: each requirement's evidence entries instead of the verdict's (the `--out-dir` bundle lists its
    files and the declaration's URLs); `banner`: comment lines put first (e.g. a draft marker);
    `check_metadata=False`: write the metadata as given (the caller validates the result itself).
    """
    keys = metadata_keys(version)
    if evaluation.version != version:
        raise ValueError(f"evaluation is for {evaluation.version}, not {version}")
    if draft:
        metadata = {k: metadata.get(k) or ("" if k in OPTIONAL_METADATA else PLACEHOLDERS.get(k, "")) for k in keys}
    elif check_metadata:
        problems = metadata_problems(version, metadata)
        if problems:
            raise MetadataError(problems)

    meta: dict[str, str] = {k: (version if k in DERIVED_METADATA else metadata.get(k, "")) for k in keys}
    # validate.go requires k8sConformanceUrl for every version although only the 1.35 template lists it:
    # keep it when given.
    if K8S_CONFORMANCE_URL not in meta and metadata.get(K8S_CONFORMANCE_URL):
        problems = metadata_problems(version, metadata, keys=[K8S_CONFORMANCE_URL]) if check_metadata else []
        if problems:
            raise MetadataError(problems)
        meta[K8S_CONFORMANCE_URL] = metadata[K8S_CONFORMANCE_URL]

    verdicts = {v.requirement: v for v in evaluation.verdicts}
    spec: dict[str, list[dict[str, Any]]] = {}
    for req in requirements_for(version):
        v = verdicts.get(req.id)
        if v is None:
            raise ValueError(f"evaluation has no verdict for {req.id}")
        spec.setdefault(req.category, []).append(
            {
                "id": req.id,
                "description": req.description,
                "level": req.level,
                "status": v.status,
                "evidence": list(v.evidence if evidence is None else evidence.get(req.id, ())),
                "notes": _notes(v),
            }
        )
    ordered = {c: spec[c] for c in CATEGORIES if c in spec}
    header = banner + (
        "# Kubernetes AI Conformance Checklist\n"
        f"# Generated by aiconform {__version__} from a live evaluation against checklist {version}.\n"
        "# Review every item before submitting: scripts/validate.go requires status Implemented on every MUST,\n"
        "# and each evidence entry to be a reachable URL or a file next to this PRODUCT.yaml.\n\n"
    )
    body = _dump({"metadata": meta}) + "\n" + _dump({"spec": ordered})
    return header + body
