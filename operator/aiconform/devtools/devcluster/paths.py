"""Where the dev cluster keeps its cache and state. Everything lives under one root so `down` can find it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$AICONFORM_CACHE, else $XDG_CACHE_HOME/aiconform, else ~/.cache/aiconform."""
    explicit = os.environ.get("AICONFORM_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aiconform"


def bin_dir(component: str, version: str) -> Path:
    """Built binaries, keyed by component and version: a new pin never reuses an old build."""
    return cache_root() / "bin" / f"{component}-{version}"


def src_dir(component: str, version: str) -> Path:
    """The helper Go module that builds a component (its go.mod pins the upstream version)."""
    return cache_root() / "src" / f"{component}-{version}"


def cluster_dir(name: str) -> Path:
    return cache_root() / "clusters" / name
