"""Imports flow one way between the packages by role (see docs/architecture.md): a package may import only the
ones listed for it, so the pure core never reaches the operator's I/O, and the operator, the checker and the dev
tools stay independent of each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "aiconform"

# Top-level modules every package may use: the version and the one error type of the command line.
SHARED = {"aiconform", "aiconform.errors"}
ALLOWED: dict[str, set[str]] = {
    "api": set(),
    "kube": {"api"},
    "conformance": {"api", "kube"},
    "components": {"api", "kube", "conformance"},
    "probes": {"api", "kube", "conformance"},
    "operator": {"api", "kube", "conformance", "components", "probes"},
    "checker": {"api", "kube", "conformance", "probes"},
    "devtools": {"api", "kube", "conformance", "components"},
}


def _role(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def _imports(path: Path) -> set[str]:
    """Every aiconform module a file imports, lazily imported ones included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("aiconform"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aiconform"):
            # `from aiconform.kube import view` imports aiconform.kube.view
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _violations() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_of(path)
        role = _role(module)
        if role is None:
            continue  # the top level (cli, __main__) dispatches to every role
        for imported in sorted(_imports(path)):
            target = _role(imported)
            if target is None:
                if imported.split(".")[1] not in ("errors", "__version__"):
                    found.append(f"{module} imports {imported} (top level)")
            elif target != role and target not in ALLOWED[role]:
                found.append(f"{module} ({role}) imports {imported} ({target})")
    return found


def test_imports_flow_one_way() -> None:
    assert _violations() == []


def test_no_private_imports_across_packages() -> None:
    """A module's underscore names are its own package's business (components once reached into checks._common)."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        role = _role(_module_of(path))
        for imported in _imports(path):
            private = any(p.startswith("_") and not p.startswith("__") for p in imported.split(".")[2:])
            if private and _role(imported) != role:
                bad.append(f"{_module_of(path)} imports {imported}")
    assert bad == []


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_every_role_is_a_package(role: str) -> None:
    assert (PACKAGE / role / "__init__.py").is_file()


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The scanner itself: an upward import is seen, a lazy one too."""
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from aiconform.operator import evaluator\n    import aiconform.checker.commands\n")
    assert _imports(bad) == {"aiconform.operator.evaluator", "aiconform.checker.commands"}
