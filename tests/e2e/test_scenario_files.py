"""The scenario suite (tests/scenarios/*.yaml): each cluster state is applied to the real dev API server and
evaluated by both the running operator (a live profile) and `aiconform check`; the two must agree with each
other and with the truthful verdict the file states."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AICONFORM, OPERATOR_NAMESPACE, OPERATOR_RELEASE, ROOT, Cluster, Operator, token_kubeconfig

from aiconform.devtools.devcluster import upstream
from aiconform.kube import sources
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


UID = "@uid:"


def _resolve(value: Any, generation: int | None = None, uids: dict[str, str] | None = None) -> Any:
    """Placeholders: in a status a controller would have written, the object's generation ("@generation") or one
    behind ("@generation-1"); anywhere, a live object's uid ("@uid:Node/kwok-h100-0000", "@uid:Kind/ns/name"),
    as an owner reference a real controller writes carries it."""
    if generation is not None and value == "@generation":
        return generation
    if generation is not None and value == "@generation-1":
        return generation - 1
    if uids is not None and isinstance(value, str) and value.startswith(UID):
        return uids[value]
    if isinstance(value, dict):
        return {k: _resolve(v, generation, uids) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, generation, uids) for v in value]
    return value


def _uid_refs(value: Any) -> set[str]:
    if isinstance(value, str) and value.startswith(UID):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_uid_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_uid_refs(v) for v in value)) if value else set()
    return set()


def _uid_target(ref: str) -> list[str]:
    """kubectl's arguments for the object a "@uid:Kind/name" or "@uid:Kind/namespace/name" placeholder names."""
    kind, *rest = ref.removeprefix(UID).split("/")
    if len(rest) == 1:
        return [f"{kind.lower()}/{rest[0]}"]
    if len(rest) == 2:
        return [f"{kind.lower()}/{rest[1]}", "-n", rest[0]]
    raise ValueError(f"{ref}: expected @uid:Kind/name or @uid:Kind/namespace/name")


def _inverse(patch: Any, live: Any) -> Any:
    """The merge patch that undoes `patch` on `live` (the object as it was): each patched key back to its old
    value, or removed (null) when it had none."""
    if not isinstance(patch, dict):
        return live
    before = live if isinstance(live, dict) else {}
    return {
        k: (_inverse(v, before[k]) if isinstance(v, dict) and isinstance(before.get(k), dict) else before.get(k))
        for k, v in patch.items()
    }


def _rules_without(rules: list[dict[str, Any]], deny: list[str]) -> list[dict[str, Any]]:
    """A ClusterRole's rules with the denied resources (source keys: "pods", "clusterqueues.kueue.x-k8s.io")
    taken out of every rule; RBAC only adds, so a restriction is the role it restricts, less what it denies."""
    denied = {tuple(reversed(key.partition(".")[::2])) for key in deny}  # (group, plural)
    out = []
    for rule in rules:
        groups = rule.get("apiGroups") or []
        resources = [r for r in rule.get("resources") or [] if not any((g, r) in denied for g in groups)]
        if resources or "resources" not in rule:
            out.append({**rule, **({"resources": resources} if "resources" in rule else {})})
    return out


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
    def __init__(self, cluster: Cluster, operator: Operator, path: Path, tmp: Path) -> None:
        self.cluster, self.operator, self.path, self.tmp, self.doc = cluster, operator, path, tmp, _load(path)
        self.profile = f"scn-{uuid.uuid4().hex[:6]}"
        self.spec = {"kubernetesVersion": "v1.35", "evaluationIntervalSeconds": 10, **(self.doc.get("spec") or {})}
        self.deny: list[str] = list((self.doc.get("access") or {}).get("deny") or [])
        self.check_kubeconfig = cluster.kubeconfig
        self.restricted: Operator | None = None  # the operator restarted under the restricted identity
        self.identity: list[str] = []  # the restricted identity's RBAC objects, deleted on teardown
        self.undo: list[tuple[list[str], dict[str, Any]]] = []  # edits of objects the file did not create

    def _uids(self, value: Any) -> dict[str, str]:
        """The uids the placeholders in `value` name, read live: one kubectl call per namespace."""
        by_ns: dict[str | None, list[str]] = {}
        for ref in sorted(_uid_refs(value)):
            target = _uid_target(ref)
            by_ns.setdefault(target[2] if len(target) > 1 else None, []).append(ref)
        uids: dict[str, str] = {}
        for ns, refs in by_ns.items():
            doc = self.cluster.get_json(*[_uid_target(r)[0] for r in refs], *(["-n", ns] if ns else []))
            live = {
                f"{o['kind'].lower()}/{o['metadata']['name']}": o["metadata"]["uid"]
                for o in (doc["items"] if doc.get("kind") == "List" else [doc])
            }
            uids.update({r: live[_uid_target(r)[0]] for r in refs})
        return uids

    def _apply(self, batch: list[dict[str, Any]]) -> None:
        self.cluster.kubectl("apply", "--server-side", "--field-manager=scenario", "-f", "-", input=_list(batch))

    def setup(self) -> None:
        wanted = [c for c in self.doc.get("crds") or [] if c not in _INSTALLED]
        if wanted:

            async def install() -> None:
                async with KubeClient(load_credentials(Path(self.cluster.kubeconfig))) as kube:
                    await upstream.install(kube, wanted)

            asyncio.run(install())
            _INSTALLED.update(wanted)
        # One apply per run of objects; a CRD ends a run and is waited for, as its custom resources may follow; an
        # object with a "@uid:" placeholder starts one (the object it names may be the one just before).
        batch: list[dict[str, Any]] = []
        for obj in [*(self.doc.get("objects") or []), None]:
            if batch and (obj is None or _uid_refs(obj)):
                self._apply(batch)
                batch = []
            if obj is not None:
                batch.append(_resolve(obj, uids=self._uids(obj)))
            if obj is not None and obj["kind"] == "CustomResourceDefinition":
                self._apply(batch)
                batch = []
                crd = f"customresourcedefinition/{obj['metadata']['name']}"
                self.cluster.kubectl("wait", "--for=condition=Established", crd, "--timeout=30s")
        for written in self.doc.get("statuses") or []:
            live = self.cluster.get_json(*_resource(written))
            generation = int(live["metadata"].get("generation") or 1)
            status = _resolve(written["status"], generation, self._uids(written["status"]))
            self.cluster.kubectl(
                "patch",
                *_resource(written),
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps({"status": status}),
            )
        created = {tuple(_resource(o)) for o in self.doc.get("objects") or []}
        edits = self.doc.get("edits") or []
        uids = self._uids([e["patch"] for e in edits])  # every object they name exists by now: one read
        for edit in edits:
            target = _resource(edit)
            patch = _resolve(edit["patch"], uids=uids)
            if tuple(target) not in created:  # e.g. the dev fleet's: the next file expects them as they were
                self.undo.append((target, _inverse(patch, self.cluster.get_json(*target))))
            self.cluster.kubectl("patch", *target, "--type=merge", "-p", json.dumps(patch))
        if self.deny:
            self._restrict()

    def _restrict(self) -> None:
        """`access.deny`: the operator's own least-privilege role (the Helm chart's ClusterRole, as the session
        installed it) less the denied resources, bound to a ServiceAccount of its own; `check` runs with its
        token and the operator is restarted under it for this file."""
        binding = self.cluster.kubectl("get", "clusterrolebinding", OPERATOR_RELEASE, "-o", "json", check=False)
        if binding.returncode != 0:
            pytest.skip("access.deny needs the operator under the chart's role (not AICONFORM_E2E_ADMIN=1)")
        role = self.cluster.get_json("clusterrole", json.loads(binding.stdout)["roleRef"]["name"])
        name = f"scn-restricted-{self.profile}"
        meta = {"name": name, "labels": {"aiconform.io/scenario": self.path.stem}}
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "namespace": OPERATOR_NAMESPACE}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": meta,
                "rules": _rules_without(role["rules"], self.deny),
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": OPERATOR_NAMESPACE}],
            },
        ]
        self._apply(objects)
        self.identity = [
            f"clusterrolebinding/{name}",
            f"clusterrole/{name}",
            f"serviceaccount/{name}",
        ]
        token = self.cluster.kubectl("create", "token", name, "-n", OPERATOR_NAMESPACE, "--duration=1h").stdout
        kubeconfig = token_kubeconfig(
            self.cluster, token.strip(), self.tmp / "restricted.kubeconfig", OPERATOR_NAMESPACE
        )
        self.check_kubeconfig = str(kubeconfig)
        cmd = list(self.operator.cmd)
        cmd[cmd.index("--kubeconfig") + 1] = str(kubeconfig)
        self.restricted = dataclasses.replace(self.operator, cmd=cmd, proc=None, starts=0)
        # SIGKILL, not a graceful stop (kopf takes ~5 s to shut down): the operator recovers from a kill
        # (test_faults), and the next start re-lists everything anyway.
        self.operator.kill()
        self.restricted.start(self.cluster)

    def teardown(self) -> None:
        # The profile's cleanup and the objects' deletion go on in the background (names are unique per file),
        # but a CRD is gone before the next scenario may define it again.
        self.cluster.kubectl("delete", "cprof", self.profile, "--ignore-not-found", "--wait=false", check=False)
        if self.restricted is not None:  # the session's operator again, which finishes the profile's cleanup
            self.restricted.kill()
            self.operator.start(self.cluster)
        for target, inverse in reversed(self.undo):
            self.cluster.kubectl("patch", *target, "--type=merge", "-p", json.dumps(inverse), check=False)
        for obj in self.identity:
            ns = ["-n", OPERATOR_NAMESPACE] if obj.startswith("serviceaccount/") else []
            self.cluster.kubectl("delete", obj, *ns, "--ignore-not-found", "--wait=false", check=False)
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

    def check_verdicts(self) -> dict[str, dict[str, Any]] | None:
        """`aiconform check`'s verdicts, or None when the file says it cannot run at all (`check.report: false`:
        a required source it may not read stops it with exit 2 and an error, never a report of absence)."""
        want = self.doc.get("check") or {}
        profile = self.tmp / "profile.yaml"
        profile.write_text(yaml.safe_dump({"spec": self.spec}))
        out = subprocess.run(
            [*AICONFORM, "check", "--kubeconfig", self.check_kubeconfig, "--profile", str(profile), "-o", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if "exit" in want:
            assert out.returncode == want["exit"], (
                f"check exited {out.returncode}, expected {want['exit']}: {out.stderr}"
            )
        else:
            assert out.returncode in (0, 1), f"check could not run: {out.stderr}"
        for needle in want.get("stderr") or []:
            assert str(needle) in out.stderr, f"check's error does not name {needle!r}: {out.stderr}"
        if want.get("report", True) is False:
            assert not out.stdout.strip(), f"check printed a report although it could not read: {out.stdout[:500]}"
            return None
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
def scenario(
    request: pytest.FixtureRequest, cluster: Cluster, operator: Operator, profiles_gone: list[str], tmp_path: Path
) -> Iterator[Scenario]:
    s = Scenario(cluster, operator, request.param, tmp_path)
    profiles_gone.append(s.profile)
    try:
        s.setup()
        yield s
    finally:
        s.teardown()


def test_there_are_scenarios() -> None:
    assert SCENARIOS, "tests/scenarios is empty"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS], indirect=True)
def test_operator_and_check_agree_with_the_truth(scenario: Scenario) -> None:
    want: dict[str, dict[str, Any]] = scenario.doc["expect"]
    from_operator = scenario.operator_verdicts()
    from_check = scenario.check_verdicts()
    if from_check is None:  # check stopped before judging anything (check.report: false): the operator alone
        return
    for rid, expected in want.items():
        assert _matches(from_check[rid], expected), f"check says {from_check[rid]}, expected {expected}"
        same = {k: from_operator[rid].get(k) for k in ("status", "reason", "tier")}
        assert same == {k: from_check[rid].get(k) for k in ("status", "reason", "tier")}, (
            f"{rid}: the operator and check disagree"
        )


KEYS = {"description", "crds", "spec", "objects", "statuses", "edits", "access", "check", "expect"}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_file_is_well_formed(path: Path) -> None:
    """What a file says, the harness understands: no unknown key silently ignored, every denied resource one that
    aiconform reads, every "@uid:" placeholder of a form the harness resolves."""
    doc = _load(path)
    assert set(doc) <= KEYS, f"unknown keys {set(doc) - KEYS}"
    assert set(doc.get("access") or {}) <= {"deny"}
    assert set((doc.get("access") or {}).get("deny") or []) <= set(sources.BY_KEY), "deny takes source keys"
    check = doc.get("check") or {}
    assert set(check) <= {"exit", "report", "stderr"}
    assert check.get("report", True) or check.get("exit") == 2, "check without a report exits 2"
    for ref in _uid_refs([doc.get("objects"), doc.get("statuses"), doc.get("edits")]):
        assert _uid_target(ref)


def test_placeholders_inverse_and_restriction() -> None:
    uids = {"@uid:Node/n1": "u-1"}
    owner = {"ownerReferences": [{"kind": "Node", "uid": "@uid:Node/n1"}], "og": "@generation"}
    assert _uid_refs(owner) == {"@uid:Node/n1"}
    assert _resolve(owner, 3, uids) == {"ownerReferences": [{"kind": "Node", "uid": "u-1"}], "og": 3}
    assert _resolve("@generation-1", None, uids) == "@generation-1"  # only statuses carry generations
    assert _uid_target("@uid:Node/n1") == ["node/n1"]
    assert _uid_target("@uid:Pod/ns/p") == ["pod/p", "-n", "ns"]
    live = {"metadata": {"name": "x", "labels": {"a": "1"}}}
    patch = {"metadata": {"labels": {"a": "2", "b": "3"}, "ownerReferences": [{}]}}
    assert _inverse(patch, live) == {"metadata": {"labels": {"a": "1", "b": None}, "ownerReferences": None}}
    rules = [
        {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["list"]},
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["clusterqueues"], "verbs": ["list"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
    assert _rules_without(rules, ["pods", "clusterqueues.kueue.x-k8s.io"]) == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]
