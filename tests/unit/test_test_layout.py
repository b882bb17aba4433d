"""The test tree itself: pytest imports test modules by basename (rootdir-relative, no packages), so two test files
of the same name in different folders stop the whole run at collection (CI on 2dcc2d2 died that way)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if ".venv" not in path.parts)
    assert names, "no test modules found"
    repeated = sorted(name for name, count in names.items() if count > 1)
    assert not repeated, f"test modules sharing a basename (pytest cannot collect both): {repeated}"
