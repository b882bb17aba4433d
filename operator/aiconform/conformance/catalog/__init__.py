"""The requirement catalog: which requirements each checklist version lists, read from packaged data.

`requirements.yaml` is the data (verbatim from the CNCF checklists); this module only loads and queries it,
and decides which checklist a profile is evaluated against (`resolve_version`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

Category = Literal["accelerators", "networking", "schedulingOrchestration", "observability", "security", "operator"]
Level = Literal["MUST", "SHOULD"]

CATEGORIES: tuple[str, ...] = (
    "accelerators",
    "networking",
    "schedulingOrchestration",
    "observability",
    "security",
    "operator",
)
LEVELS: tuple[str, ...] = ("MUST", "SHOULD")
AUTO = "auto"

# Resolution reasons (CamelCase: they end up as condition reasons).
REASON_RESOLVED = "ChecklistResolved"
REASON_NEWER_THAN_KNOWN = "NewerThanNewestChecklist"
REASON_UNSUPPORTED = "UnsupportedKubernetesVersion"
REASON_UNKNOWN_CHECKLIST = "UnknownChecklistVersion"
REASON_CLUSTER_VERSION_UNKNOWN = "ClusterVersionUnknown"

_VERSION_RE = re.compile(r"^v1\.(\d+)$")
# gitVersion as served by /version: "v1.36.3", "v1.36.3-gke.1", "v1.37.0-alpha.1+abc".
_GIT_VERSION_RE = re.compile(r"^v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


@dataclass(frozen=True)
class Requirement:
    id: str
    category: Category
    level: Level
    description: str
    # True when the requirement applies only if the platform offers the capability ("If the platform...").
    conditional: bool = False


@dataclass(frozen=True)
class Resolution:
    """Which checklist to evaluate. Errors are values (ok=False, version=None), never exceptions."""

    version: str | None
    reason: str
    message: str
    ok: bool


class CatalogError(Exception):
    """The packaged catalog is malformed (a packaging bug, not a user error)."""


def _minor(version: str) -> int:
    m = _VERSION_RE.match(version)
    if not m:
        raise CatalogError(f"bad checklist version {version!r} in catalog")
    return int(m.group(1))


def _parse_requirement(version: str, raw: Any) -> Requirement:
    if not isinstance(raw, dict):
        raise CatalogError(f"{version}: requirement entry is not a mapping")
    category, level = raw.get("category"), raw.get("level")
    if category not in CATEGORIES or level not in LEVELS:
        raise CatalogError(f"{version}/{raw.get('id')}: bad category {category!r} or level {level!r}")
    return Requirement(
        id=str(raw["id"]),
        category=category,
        level=level,
        description=str(raw["description"]),
        conditional=bool(raw.get("conditional", False)),
    )


@cache
def _load() -> dict[str, tuple[Requirement, ...]]:
    text = resources.files(__package__).joinpath("requirements.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    versions = data.get("versions") if isinstance(data, dict) else None
    if not isinstance(versions, dict) or not versions:
        raise CatalogError("requirements.yaml has no 'versions' mapping")
    out: dict[str, tuple[Requirement, ...]] = {}
    for version, items in versions.items():
        _minor(version)
        out[version] = tuple(_parse_requirement(version, raw) for raw in items)
    return out


def known_versions() -> list[str]:
    """Checklist versions in the catalog, oldest first (numeric order: v1.9 < v1.10)."""
    return sorted(_load(), key=_minor)


def requirements_for(version: str) -> list[Requirement]:
    """The requirements of one checklist version, in checklist order. KeyError if unknown."""
    return list(_load()[version])


def parse_cluster_minor(git_version: str | None) -> int | None:
    """The minor of a Kubernetes gitVersion ("v1.36.3-gke.1" → 36), or None if it does not parse."""
    if not git_version:
        return None
    m = _GIT_VERSION_RE.match(git_version.strip())
    return int(m.group(1)) if m else None


def resolve_version(requested: str, cluster_git_version: str | None) -> Resolution:
    """Pick the checklist: `requested` is "auto" (follow the cluster's minor) or an explicit "v1.NN"."""
    known = known_versions()
    listing = ", ".join(known)
    if requested != AUTO:
        if requested in known:
            return Resolution(requested, REASON_RESOLVED, f"checklist {requested} (requested explicitly)", True)
        return Resolution(
            None,
            REASON_UNKNOWN_CHECKLIST,
            f"checklist version {requested!r} is not in the catalog; known versions: {listing}",
            False,
        )

    minor = parse_cluster_minor(cluster_git_version)
    if minor is None:
        shown = repr(cluster_git_version) if cluster_git_version else "unavailable"
        return Resolution(
            None,
            REASON_CLUSTER_VERSION_UNKNOWN,
            f"kubernetesVersion is auto but the cluster version is {shown}; set an explicit version ({listing})",
            False,
        )
    cluster = f"v1.{minor}"
    oldest, newest = known[0], known[-1]
    if minor < _minor(oldest):
        return Resolution(
            None,
            REASON_UNSUPPORTED,
            f"cluster runs {cluster_git_version}; the oldest AI conformance checklist is {oldest}",
            False,
        )
    if minor > _minor(newest):
        return Resolution(
            newest,
            REASON_NEWER_THAN_KNOWN,
            f"cluster runs {cluster_git_version}, newer than the newest known checklist; evaluating {newest}",
            True,
        )
    # A gap in the catalog (none today) falls back to the newest checklist not newer than the cluster.
    chosen = [v for v in known if _minor(v) <= minor][-1]
    note = "" if chosen == cluster else f", no {cluster} checklist"
    return Resolution(chosen, REASON_RESOLVED, f"checklist {chosen} (cluster runs {cluster_git_version}{note})", True)
