"""The scenario suite (tests/scenarios/*.yaml): each cluster state is applied to the real dev API server and
evaluated by both the running operator (a live profile) and `aiconform check`; the two must agree with each
other and with the truthful verdict the file states."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AICONFORM, ROOT, Cluster, Operator

from aiconform.devtools.devcluster import upstream
from aiconform.kube.client import KubeClient, load_credentials

pytestmark = pytest.mark.e2e
SCENARIOS = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
VERDICT_TIMEOUT = 30.0
_INSTALLED: set[str] = set()  # upstream CRD sets installed by this session (never uninstalled: install once)


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    assert doc.get("expect"), f"{path.name}: no expected verdicts"
    return doc


def _list(objects: list[dict[str, Any]]) -> str:
    """A multi-document stream for one kubectl call (a `kind: List` takes kubectl seconds more)."""
    return "\n---\n".join(json.dumps(o) for o in objects)


def _resolve(value: Any, generation: int) -> Any:
    """Placeholders in a status a controller would have written: the object's generation, or one behind."""
    if value == "@generation":
        return generation
    if value == "@generation-1":
        return generation - 1
    if isinstance(value, dict):
        return {k: _resolve(v, generation) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, generation) for v in value]
    return value


def _resource(obj: dict[str, Any]) -> list[str]:
    """kubectl's resource.version.group and the namespace flag for an object (`pod.v1.`: the core group is
    the empty one after the dot; `pod.v1` would be read as the resource "pod" of a group "v1")."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    kind = str(obj["kind"]).lower()
    resource = f"{kind}.{version}.{group}"
    ns = (obj.get("metadata") or {}).get("namespace")
    return [resource, obj["metadata"]["name"], *(["-n", ns] if ns else [])]


def _matches(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for key in ("status", "reason", "tier"):
        if key not in want:
            continue
        allowed = want[key] if isinstance(want[key], list) else [want[key]]
        if got.get(key) not in allowed:
            return False
    # `mentions`: what the verdict must name (the objects at fault, a node, a value), found in its message.
    return all(str(m) in str(got.get("message", "")) for m in want.get("mentions") or [])


class Scenario:
    def __init__(self, cluster: Cluster, path: Path) -> None:
        self.cluster, self.path, self.doc = cluster, path, _load(path)
        self.profile = f"scn-{uuid.uuid4().hex[:6]}"
        self.spec = {"kubernetesVersion": "v1.35", "evaluationIntervalSeconds": 10, **(self.doc.get("spec") or {})}

    def setup(self) -> None:
        wanted = [c for c in self.doc.get("crds") or [] if c not in _INSTALLED]
        if wanted:

            async def install() -> None:
                async with KubeClient(load_credentials(Path(self.cluster.kubeconfig))) as kube:
                    await upstream.install(kube, wanted)

            asyncio.run(install())
            _INSTALLED.update(wanted)
        # One apply per run of objects; a CRD ends a run and is waited for, as its custom resources may follow.
        batch: list[dict[str, Any]] = []
        for obj in [*(self.doc.get("objects") or []), None]:
            if obj is not None:
                batch.append(obj)
            if batch and (obj is None or obj["kind"] == "CustomResourceDefinition"):
                self.cluster.kubectl(
                    "apply", "--server-side", "--field-manager=scenario", "-f", "-", input=_list(batch)
                )
                batch = []
            if obj is not None and obj["kind"] == "CustomResourceDefinition":
                crd = f"customresourcedefinition/{obj['metadata']['name']}"
                self.cluster.kubectl("wait", "--for=condition=Established", crd, "--timeout=30s")
        for written in self.doc.get("statuses") or []:
            live = self.cluster.get_json(*_resource(written))
            status = _resolve(written["status"], int(live["metadata"].get("generation") or 1))
            self.cluster.kubectl(
                "patch",
                *_resource(written),
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps({"status": status}),
            )
        for edit in self.doc.get("edits") or []:
            self.cluster.kubectl("patch", *_resource(edit), "--type=merge", "-p", json.dumps(edit["patch"]))

    def teardown(self) -> None:
        # The profile's cleanup and the objects' deletion go on in the background (names are unique per file),
        # but a CRD is gone before the next scenario may define it again.
        self.cluster.kubectl("delete", "cprof", self.profile, "--ignore-not-found", "--wait=false", check=False)
        objects = list(reversed(self.doc.get("objects") or []))
        if objects:
            self.cluster.kubectl(
                "delete", "-f", "-", "--ignore-not-found", "--wait=false", input=_list(objects), check=False
            )
        crds = [
            f"customresourcedefinition/{o['metadata']['name']}"
            for o in objects
            if o["kind"] == "CustomResourceDefinition"
        ]
        if crds:
            self.cluster.kubectl("wait", "--for=delete", *crds, "--timeout=60s", check=False)

    def operator_verdicts(self) -> dict[str, dict[str, Any]]:
        doc = {
            "apiVersion": "aiconform.io/v1alpha1",
            "kind": "ConformanceProfile",
            "metadata": {"name": self.profile},
            "spec": self.spec,
        }
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
        want: dict[str, dict[str, Any]] = self.doc["expect"]

        def settled() -> dict[str, dict[str, Any]] | None:
            status = self.cluster.get_json("cprof", self.profile).get("status") or {}
            got = {r["id"]: r for r in status.get("requirements") or []}
            if all(rid in got and _matches(got[rid], w) for rid, w in want.items()):
                return got
            return None

        try:
            return dict(self.cluster.wait_for(f"{self.path.name}: operator verdicts", settled, timeout=VERDICT_TIMEOUT))
        except AssertionError:
            status = self.cluster.get_json("cprof", self.profile).get("status") or {}
            got = {r["id"]: r for r in status.get("requirements") or [] if r["id"] in want}
            raise AssertionError(f"{self.path.name}: the operator says {got}, expected {want}") from None

    def check_verdicts(self, tmp: Path) -> dict[str, dict[str, Any]]:
        profile = tmp / "profile.yaml"
        profile.write_text(yaml.safe_dump({"spec": self.spec}))
        out = subprocess.run(
            [*AICONFORM, "check", "--kubeconfig", self.cluster.kubeconfig, "--profile", str(profile), "-o", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode in (0, 1), f"check could not run: {out.stderr}"
        return {r["id"]: r for r in json.loads(out.stdout)["requirements"]}


@pytest.fixture(scope="module")
def profiles_gone(cluster: Cluster, operator: Operator) -> Iterator[list[str]]:
    """The scenarios' profiles are deleted in the background; before the operator stops, they are gone."""
    names: list[str] = []
    yield names
    if names:
        cprofs = [f"cprof/{n}" for n in names]
        cluster.kubectl("wait", "--for=delete", *cprofs, "--timeout=60s", check=False)


@pytest.fixture
def scenario(request: pytest.FixtureRequest, cluster: Cluster, profiles_gone: list[str]) -> Iterator[Scenario]:
    s = Scenario(cluster, request.param)
    profiles_gone.append(s.profile)
    s.setup()
    try:
        yield s
    finally:
        s.teardown()


def test_there_are_scenarios() -> None:
    assert SCENARIOS, "tests/scenarios is empty"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS], indirect=True)
def test_operator_and_check_agree_with_the_truth(scenario: Scenario, tmp_path: Path) -> None:
    want: dict[str, dict[str, Any]] = scenario.doc["expect"]
    from_operator = scenario.operator_verdicts()
    from_check = scenario.check_verdicts(tmp_path)
    for rid, expected in want.items():
        assert _matches(from_check[rid], expected), f"check says {from_check[rid]}, expected {expected}"
        same = {k: from_operator[rid].get(k) for k in ("status", "reason", "tier")}
        assert same == {k: from_check[rid].get(k) for k in ("status", "reason", "tier")}, (
            f"{rid}: the operator and check disagree"
        )
