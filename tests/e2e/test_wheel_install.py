"""The wheel as users (and the Dockerfile) get it: built from exactly the files the Dockerfile copies, installed
into a fresh virtualenv with its dependencies from the package index, run from outside the source tree.

Slow (a venv and a dependency download), hence e2e; it needs no cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

from aiconform import __version__

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# What the Dockerfile's build stage copies: if the wheel builds from these, so does the image.
SOURCES = ("pyproject.toml", "README.md", "operator")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(dist)], cwd=src)
    [built] = dist.glob("aiconform-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh virtualenv with the wheel and its dependencies (not the dev extras) installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=env_dir, timeout=900)
    return env_dir / "bin"


def test_wheel_contents(wheel: Path) -> None:
    assert wheel.name.startswith(f"aiconform-{__version__}-py3-none-any")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "aiconform/py.typed" in names
    assert "aiconform/conformance/catalog/requirements.yaml" in names
    assert not any(n.startswith(("tests/", "deploy/", "crds/")) for n in names)
    entry_points = zipfile.ZipFile(wheel).read(f"aiconform-{__version__}.dist-info/entry_points.txt").decode()
    assert "aiconform = aiconform.cli:main" in entry_points


def test_version(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "aiconform"), "--version"], cwd=tmp_path)
    assert out.stdout.strip() == f"aiconform {__version__}"


def test_run_help(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "aiconform"), "run", "--help"], cwd=tmp_path)
    for flag in ("--kubeconfig", "--liveness-port", "--metrics-port", "--bind-address", "--log-format"):
        assert flag in out.stdout


def test_installed_package_is_self_contained(installed: Path, tmp_path: Path) -> None:
    """Imported from the venv, not from the source tree; package data present; the operator's dependencies
    suffice without the dev cluster's (no `cryptography` needed to start)."""
    probe = (
        "import aiconform, aiconform.operator.runner, aiconform.operator.handlers; "
        "from aiconform.conformance import catalog; "
        "print(aiconform.__file__); print(','.join(catalog.known_versions()))"
    )
    out = _run([str(installed / "python"), "-c", probe], cwd=tmp_path)
    location, versions = out.stdout.strip().splitlines()
    assert Path(location).resolve().is_relative_to(installed.parent.resolve())
    assert versions.split(",")[0].startswith("v1.")


def test_installed_crd_matches_the_committed_one(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "aiconform"), "crd"], cwd=tmp_path)
    committed = (ROOT / "crds" / "conformanceprofiles.aiconform.io.yaml").read_text()
    assert yaml.safe_load(out.stdout) == yaml.safe_load(committed)
