"""One source table (kube/sources.py) for the operator and `aiconform check`: every Snapshot field has one source,
every check gives the same verdict on full objects and on the objects the operator's view keeps, and every check
and component reads only the sources that name it as a reader.

The fixtures are those of the check tests (tests/unit/checks): each check test is run once with the check
wrapped, so every (snapshot, profile) a check test builds is also held to parity here.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiconform.api.models import ProfileSpec
from aiconform.components import COMPONENTS, ProfileRef
from aiconform.conformance.checks import CHECKS
from aiconform.conformance.verdict import Verdict
from aiconform.kube.records import Layouts
from aiconform.kube.snapshot import Obj, Snapshot
from aiconform.kube.sources import BY_KEY, CUSTOM, FIXED, SCRAPE_READERS, SCRAPES, SOURCES, STACKS, trim_snapshot
from aiconform.kube.view import trim as held

CHECK_TESTS = Path(__file__).parent / "checks"
OBJECT_FIELDS = frozenset(
    f.name for f in dataclasses.fields(Snapshot) if f.name not in ("server_version", "api_resources", "custom")
) - {"scrapes", "unreadable"}
# Custom resources robust_controller looks for that no source lists (so they are always empty in both paths):
# pinned, so that a new read of an unlisted resource is a decision, not an accident.
UNLISTED_READS = frozenset(
    {
        "inferenceservices.serving.kserve.io",
        "leaderworkersets.leaderworkerset.x-k8s.io",
        "pytorchjobs.kubeflow.org",
        "rayjobs.ray.io",
        "trainjobs.trainer.kubeflow.org",
        "workspaces.kaito.sh",
    }
)

Case = tuple[str, Snapshot, ProfileSpec]


# --- the table -------------------------------------------------------------------------------------------------


def test_every_snapshot_object_field_has_exactly_one_source() -> None:
    fields = [w.field for w in SOURCES if w.field is not None and w.field != CUSTOM]
    assert sorted(fields) == sorted(OBJECT_FIELDS)


def test_each_resource_once_with_a_version_rule() -> None:
    assert len(BY_KEY) == len(SOURCES)
    assert len({(w.group, w.plural) for w in SOURCES}) == len(SOURCES)
    assert all(w.version for w in FIXED) and all(w.field != CUSTOM for w in FIXED)
    # Optional stacks are read at their CRD's preferred version, never a fixed one; none is required.
    # A stack no check or component reads is watched for our own objects alone (no Snapshot field).
    assert all((w.field == CUSTOM) == bool(w.readers) and not w.required for w in STACKS)
    assert "clusterqueues.kueue.x-k8s.io" in {w.key for w in STACKS}


def test_only_the_kinds_checks_do_not_read_are_watched_by_label() -> None:
    for w in SOURCES:
        assert (w.mode == "ours") == (w.field is None), w.key
        assert not (w.mode == "ours" and (w.readers or w.required)), w.key


def test_readers_are_checks_or_components() -> None:
    known = set(CHECKS) | set(COMPONENTS)
    for w in SOURCES:
        assert set(w.readers) <= known, (w.key, set(w.readers) - known)


# --- the fixtures of the check tests ---------------------------------------------------------------------------


def _check_module(requirement: str) -> Any:
    return sys.modules[CHECKS[requirement].__module__]


@pytest.fixture(scope="module")
def cases() -> Iterator[list[Case]]:
    """Every (snapshot, profile) the check tests give a check, by requirement id."""
    found: list[Case] = []
    sys.path.insert(0, str(CHECK_TESTS))  # the check tests import `checkbuilders`
    with pytest.MonkeyPatch.context() as mp:
        for requirement, check in CHECKS.items():
            mp.setattr(_check_module(requirement), "check", _recording(requirement, check, found))
        for path in sorted(CHECK_TESTS.glob("test_check_*.py")):
            module = importlib.import_module(path.stem)
            for name, fn in sorted(vars(module).items()):
                if name.startswith("test_") and inspect.isfunction(fn) and not inspect.signature(fn).parameters:
                    before = len(found)
                    fn()
                    assert len(found) > before, f"{path.stem}.{name} gave no check a snapshot"
    sys.path.remove(str(CHECK_TESTS))
    yield found


def _recording(
    requirement: str, check: Callable[[Snapshot, ProfileSpec], Verdict], into: list[Case]
) -> Callable[[Snapshot, ProfileSpec], Verdict]:
    def run(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
        into.append((requirement, snapshot, spec))
        return check(snapshot, spec)

    return run


def test_the_check_tests_give_fixtures_for_every_check(cases: list[Case]) -> None:
    assert {requirement for requirement, _, _ in cases} == set(CHECKS)


def test_every_check_gives_the_same_verdict_on_what_the_view_keeps(cases: list[Case]) -> None:
    """What `check` and the operator both keep (sources.trim) is all a check may read."""
    differ = [
        (requirement, full, trimmed)
        for requirement, snapshot, spec in cases
        if (full := CHECKS[requirement](snapshot, spec))
        != (trimmed := CHECKS[requirement](trim_snapshot(snapshot), spec))
    ]
    assert not differ, differ[:3]


def _as_the_view_holds(snapshot: Snapshot) -> Snapshot:
    """Every object as the operator's view holds it: trimmed, compacted, records below a rule's `records` path."""
    layouts = Layouts()
    custom = {
        key: tuple(held(o, BY_KEY[key].trim, layouts) for o in objs) if key in BY_KEY else objs
        for key, objs in snapshot.custom.items()
    }
    fields = {
        str(w.field): tuple(held(o, w.trim, layouts) for o in getattr(snapshot, str(w.field)))
        for w in SOURCES
        if w.field is not None and w.field != CUSTOM
    }
    return dataclasses.replace(snapshot, custom=custom, **fields)


def test_every_check_gives_the_same_verdict_on_the_view_s_own_form(cases: list[Case]) -> None:
    """The view's compacted objects and records (kube/records.py) read the same as plain dicts to every check."""
    differ = [
        (requirement, full, held_verdict)
        for requirement, snapshot, spec in cases
        if (full := CHECKS[requirement](trim_snapshot(snapshot), spec))
        != (held_verdict := CHECKS[requirement](_as_the_view_holds(snapshot), spec))
    ]
    assert not differ, differ[:3]


def test_components_render_the_same_from_the_view_s_own_form(cases: list[Case]) -> None:
    """A component renders the same objects from the view's form as from plain dicts (and never copies a record
    into a manifest: rendering would fail to serialize it)."""
    spec = ProfileSpec.model_validate(
        {"components": {name: {"enabled": True} for name in COMPONENTS}, "mode": "Enforce"}
    )
    slices = 0
    for _, snapshot, _ in cases:
        plain, own = trim_snapshot(snapshot), _as_the_view_holds(snapshot)
        slices += len(snapshot.resource_slices)
        for name, plan in COMPONENTS.items():
            assert plan(spec, own, ProfileRef("p", "u1")) == plan(spec, plain, ProfileRef("p", "u1")), name
    assert slices, "no fixture has a ResourceSlice: the records go untested"


def test_trimming_drops_what_the_rules_say() -> None:
    node = {
        "metadata": {"name": "n", "resourceVersion": "9"},
        "status": {"images": [{"names": ["x"]}], "capacity": {"cpu": "1"}, "conditions": [{"lastHeartbeatTime": "t"}]},
    }
    out = trim_snapshot(Snapshot(nodes=(node,), custom={"rayclusters.ray.io": (node,)}))
    assert out.nodes[0] == {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "1"}, "conditions": [{}]}}
    assert out.objects("rayclusters.ray.io")[0]["status"] == node["status"]  # whole: a check may read any of it


# --- who reads what --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Recording(Snapshot):
    """A Snapshot that notes which object fields and custom keys are read."""

    reads: set[str] = dataclasses.field(default_factory=set)

    def __getattribute__(self, name: str) -> Any:
        if name in OBJECT_FIELDS or name in ("custom", SCRAPES):
            object.__getattribute__(self, "reads").add(name)
        return object.__getattribute__(self, name)

    def objects(self, key: str) -> tuple[Obj, ...]:
        self.reads.add(key)
        return tuple(object.__getattribute__(self, "custom").get(key, ()))


def _recording_snapshot(snapshot: Snapshot) -> _Recording:
    return _Recording(**{f.name: getattr(snapshot, f.name) for f in dataclasses.fields(Snapshot)})


def _declared(reader: str) -> set[str]:
    declared = {w.key if w.field == CUSTOM else str(w.field) for w in SOURCES if reader in w.readers}
    return declared | ({SCRAPES} if reader in SCRAPE_READERS else set())


def test_checks_read_only_the_sources_that_name_them(cases: list[Case]) -> None:
    undeclared: dict[str, set[str]] = {}
    for requirement, snapshot, spec in cases:
        recording = _recording_snapshot(snapshot)
        CHECKS[requirement](recording, spec)
        assert "custom" not in recording.reads, f"{requirement}: read custom resources through objects(key)"
        extra = recording.reads - _declared(requirement) - UNLISTED_READS
        if extra:
            undeclared.setdefault(requirement, set()).update(extra)
    assert not undeclared, f"add these readers to kube/sources.py: {undeclared}"


def test_components_read_only_the_sources_that_name_them(cases: list[Case]) -> None:
    spec = ProfileSpec.model_validate(
        {"components": {name: {"enabled": True} for name in COMPONENTS}, "mode": "Enforce"}
    )
    undeclared: dict[str, set[str]] = {}
    for _, snapshot, _ in cases:
        for name, plan in COMPONENTS.items():
            recording = _recording_snapshot(snapshot)
            plan(spec, recording, ProfileRef("p", "u1"))
            extra = recording.reads - _declared(name)
            if extra:
                undeclared.setdefault(name, set()).update(extra)
    assert not undeclared, f"add these readers to kube/sources.py: {undeclared}"
