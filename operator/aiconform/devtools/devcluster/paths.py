"""Where the dev cluster keeps its cache and state. Everything lives under one root so `down` can find it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aiconform.devtools.devcluster.pki import Pki
from aiconform.devtools.devcluster.processes import Proc


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


@dataclass(frozen=True)
class Layout:
    """The files of one cluster under its directory: state, kubeconfigs, PKI, pid files and logs."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    def proc(self, name: str, binary: Path) -> Proc:
        return Proc(name, self.root / "run" / f"{name}.pid", self.root / "logs" / f"{name}.log", binary)

    def component_kubeconfig(self, client: str) -> Path:
        return self.root / f"{client}.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "audit.log"
