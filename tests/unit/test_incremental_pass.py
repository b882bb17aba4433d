"""A change wakes only what reads it (issue 17 step 5): the view's change log, the scope a pass takes from it, and
a partial pass that ends where a full pass would — same objects, same status — without redoing the rest."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pytest
from test_operator_pass import RecordingClient

from aiconform.api.constants import LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.api.models import ProfileSpec
from aiconform.components import COMPONENTS, tenant_local
from aiconform.kube import kinds, view
from aiconform.kube.records import thawed
from aiconform.kube.view import EVERYTHING, Change, ClusterView
from aiconform.operator import evaluator, metrics
from aiconform.operator.incremental import FULL, scope_of

UID = "5f1d2c3b-0000-4000-8000-00000000beef"
LOGGER = logging.getLogger("test")
TENANT = {"aiconform.io/tenant": "true"}
SPEC: dict[str, Any] = {
    "tenants": {"namespaceSelector": {"matchLabels": TENANT}},
    "components": {
        "quotas": {"enabled": True, "gpusPerTenant": 2},
        "networkPolicies": {"enabled": True},
        "seccomp": {"enabled": True},
    },
}


def _ns(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def _ours(kind: str, name: str, namespace: str, component: str, profile: str = "prod") -> dict[str, Any]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: profile, LABEL_COMPONENT: component}
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace, "labels": labels}}


# --- the view's change log ---------------------------------------------------------------------------------------


def test_the_log_says_what_changed_where_and_whose() -> None:
    v = ClusterView()
    start = v.generation
    v.apply_event("namespaces", None, _ns("team-a", TENANT))
    v.apply_event("resourcequotas", None, _ours("ResourceQuota", "q", "team-a", "quotas"), managed_only=True)
    v.apply_event("pods", None, {"kind": "Pod", "metadata": {"name": "p", "namespace": "team-b"}})
    assert v.changes_since(start) == {
        Change("namespaces", "team-a"),
        Change("resourcequotas", "team-a", "prod", "quotas"),
        Change("pods", "team-b"),
    }
    assert v.changes_since(v.generation) == frozenset()
    v.apply_event("namespaces", None, _ns("team-a", TENANT))  # the same object again: no change, no entry
    assert v.changes_since(v.generation) == frozenset()


def test_a_log_that_no_longer_reaches_back_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view, "CHANGE_LOG", 3)
    v = ClusterView()
    for i in range(5):
        v.apply_event("pods", None, {"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "x"}})
    assert v.changes_since(0) is None  # everything counts as changed
    assert v.changes_since(v.generation - 2) == {Change("pods", "x")}


def test_the_index_of_our_objects_follows_label_changes_and_deletions() -> None:
    v = ClusterView()
    quota = _ours("ResourceQuota", "q", "team-a", "quotas")
    quota["metadata"]["ownerReferences"] = [
        {"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "name": "prod", "uid": UID}
    ]
    v.apply_event("resourcequotas", None, quota, managed_only=True)
    assert list(v.managed("prod", UID).ours) == [kinds.ident_of(quota)]
    assert list(v.managed("prod", UID, {"quotas": frozenset({"team-b"})}).ours) == []
    assert list(v.managed("prod", UID, {"networkPolicies": None}).ours) == []
    moved = copy.deepcopy(quota)
    moved["metadata"]["labels"][LABEL_PROFILE] = "other"
    v.apply_event("resourcequotas", None, moved, managed_only=True)
    assert v.managed("prod", UID).ours == {}
    v.apply_event("resourcequotas", "DELETED", moved, managed_only=True)
    assert v.managed("other", UID).ours == {}


# --- the scope of a pass (pure) ----------------------------------------------------------------------------------


def _scope(*changes: Change, kueue_adopts: bool = False) -> Any:
    spec = ProfileSpec.model_validate(
        {"components": {"kueue": {"enabled": True, **({"existingClusterQueue": "cq"} if kueue_adopts else {})}}}
    )
    return scope_of(changes, "prod", COMPONENTS, lambda c: tenant_local(spec, c))


def test_a_tenant_label_change_redoes_that_namespace_and_the_checks_that_read_namespaces() -> None:
    scope = _scope(Change("namespaces", "team-a"))
    assert not scope.full
    assert scope.checks == {"secure_accelerator_access"}
    assert {c for c, parts in scope.components.items() if parts == {"team-a"}} == {
        "kueue",
        "keda",
        "quotas",
        "networkPolicies",
        "seccomp",
    }
    assert scope.components["dra"] is None and scope.components["dcgmExporter"] is None  # they do not split


def test_a_node_change_redoes_what_reads_nodes_wholly() -> None:
    scope = _scope(Change("nodes", ""))
    assert "gpu_sharing" in scope.checks and "secure_accelerator_access" not in scope.checks
    assert scope.components["quotas"] is None and "networkPolicies" not in scope.components


def test_drift_on_one_of_ours_redoes_its_component_there_and_another_profiles_objects_concern_nobody() -> None:
    scope = _scope(Change("resourcequotas", "team-a", "prod", "quotas"))
    assert (scope.checks, dict(scope.components)) == (frozenset(), {"quotas": frozenset({"team-a"})})
    assert _scope(Change("resourcequotas", "team-a", "staging", "quotas")).idle


def test_what_the_log_cannot_tell_makes_a_full_pass() -> None:
    assert scope_of(None, "prod", COMPONENTS, lambda c: True) is FULL
    assert _scope(Change(EVERYTHING, None)).full
    assert _scope(Change("no-such-source", "x")).full
    assert _scope(Change("resourcequotas", "x", "prod", "no-such-component")).full
    # Kueue adopting an existing ClusterQueue counts the tenants it admits: it re-renders wholly.
    assert _scope(Change("namespaces", "team-a"), kueue_adopts=True).components["kueue"] is None


def test_scrapes_rerun_the_metrics_check_alone() -> None:
    scope = _scope(Change("scrapes", None))
    assert (scope.checks, dict(scope.components)) == ({"accelerator_metrics"}, {})


# --- a partial pass ends where a full one would -------------------------------------------------------------------


class ServerLike(RecordingClient):
    """Gives each created object a uid, as the API server would, so the test can feed it back as a watch event."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[dict[str, Any]] = []

    async def create(self, obj: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        out = copy.deepcopy(dict(await super().create(obj, **kw)))
        out["metadata"]["uid"] = f"uid-{len(self.made)}"
        self.made.append(out)
        return out

    async def apply(self, obj: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        out = copy.deepcopy(dict(await super().apply(obj, **kw)))
        out["manager"] = kw.get("field_manager")
        self.made.append(out)
        return out


def _body() -> kopf.Body:
    raw = {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": "prod", "generation": 1, "uid": UID},
        "spec": SPEC,
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def _feed(op: evaluator.Operator, client: ServerLike) -> None:
    """What the watches would deliver: the objects the pass created."""
    for obj in client.made:
        if obj["kind"] == "Namespace":  # a label patch: the namespace now has them, owned by that manager
            name, labels = obj["metadata"]["name"], obj["metadata"].get("labels") or {}
            ns = _ns(name, {**TENANT_OF.get(name, {}), **labels})
            owned = {f"f:{k}": {} for k in labels}
            ns["metadata"]["managedFields"] = (
                [{"manager": obj["manager"], "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": owned}}}]
                if owned
                else []
            )
            op.view.apply_event("namespaces", "MODIFIED", ns)
            continue
        info = kinds.managed_kind(obj["kind"])
        key = f"{info.plural}.{info.group}" if info.group else info.plural
        op.view.apply_event(key, "ADDED", obj, managed_only=True)
    client.made.clear()
    client.calls.clear()


@pytest.fixture(autouse=True)
def quiet_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "info", lambda *a, **k: None)
    monkeypatch.setattr(kopf, "warn", lambda *a, **k: None)


TENANT_OF: dict[str, dict[str, str]] = {}  # the tenant label of each test namespace (set by _operator)


def _operator(client: ServerLike, tenants: int) -> evaluator.Operator:
    op = evaluator.Operator(client_factory=lambda _i, _n: client)  # type: ignore[arg-type,return-value]
    op.connection = kopf.ConnectionInfo(server="https://127.0.0.1:1", insecure=True)
    op.view.server_version = "v1.36.0"
    TENANT_OF.clear()
    for i in range(tenants):
        TENANT_OF[f"team-{i}"] = dict(TENANT)
        op.view.apply_event("namespaces", None, _ns(f"team-{i}", TENANT))
    op.view.apply_event("namespaces", None, _ns("other"))
    return op


async def _settled(op: evaluator.Operator, client: ServerLike, body: kopf.Body) -> dict[str, Any]:
    """A whole pass, the watch delivering what it made, and the partial pass that follows: nothing left to do."""
    await op.run_pass(body, LOGGER, full=True)
    _feed(op, client)
    settled = await op.run_pass(body, LOGGER, full=False)
    assert [verb for verb, _ in client.calls if verb != "PATCH"] == []
    client.calls.clear()
    return settled


def test_a_label_change_redoes_one_namespace_and_ends_where_a_full_pass_would() -> None:
    client = ServerLike()
    op = _operator(client, tenants=6)
    body = _body()

    async def scenario() -> None:
        settled = await _settled(op, client, body)
        # team-3 leaves the tenants: its quota and policies go, its labels are released, nothing else is touched.
        TENANT_OF["team-3"] = {}
        current = next(n for n in op.view.objects("namespaces") if n["metadata"]["name"] == "team-3")
        relabelled = thawed(current)
        relabelled["metadata"]["labels"] = {k: v for k, v in current["metadata"]["labels"].items() if k not in TENANT}
        op.view.apply_event("namespaces", None, relabelled)
        scope = op.scope(body, op.state(UID))
        assert not scope.full and all(p in (None, frozenset({"team-3"})) for p in scope.components.values())
        checks_before = metrics.CHECKS_RUN._value.get()
        after = await op.run_pass(body, LOGGER, full=False)
        assert metrics.CHECKS_RUN._value.get() - checks_before == 1  # secure_accelerator_access reads namespaces
        deleted = sorted(path for verb, path in client.calls if verb == "delete")
        assert deleted and all("/namespaces/team-3/" in path for path in deleted)
        assert [path for verb, path in client.calls if verb == "apply"] == ["/api/v1/namespaces/team-3"]
        assert not [c for c in client.calls if c[0] == "create"]
        _feed(op, client)  # the released labels
        for path in deleted:  # the watch delivers the deletions
            ns, kind_plural, name = path.split("/")[-3:]
            key = "resourcequotas" if kind_plural == "resourcequotas" else f"{kind_plural}.networking.k8s.io"
            op.view.apply_event(key, "DELETED", {"kind": "x", "metadata": {"name": name, "namespace": ns}})
        client.calls.clear()
        partial = await op.run_pass(body, LOGGER, full=False)
        full = await op.run_pass(body, LOGGER, full=True)
        assert not [c for c in client.calls if c[0] != "PATCH"], client.calls  # the full pass finds nothing to do
        assert partial["components"] == full["components"]
        assert full["components"]["quotas"]["managed"] == settled["components"]["quotas"]["managed"] - 1
        assert after["components"]["quotas"]["state"] == "Ready"  # its deletes were done in that very pass

    asyncio.run(scenario())


def test_a_change_no_part_of_the_profile_reads_runs_no_pass() -> None:
    client = ServerLike()
    op = _operator(client, tenants=2)
    body = _body()

    async def scenario() -> None:
        await _settled(op, client, body)
        theirs = _ours("ResourceQuota", "q", "team-0", "quotas", profile="staging")
        op.view.apply_event("resourcequotas", None, theirs, managed_only=True)
        assert op.scope(body, op.state(UID)).idle

    asyncio.run(scenario())


def test_a_whole_pass_in_batches_of_namespaces_does_what_one_step_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole pass renders, decides and applies a tenant-local component in batches (reconciler.BATCH) so it never
    holds every manifest at once: the same writes, the same status as in one step."""
    from aiconform.operator import reconciler

    def run(batch: int) -> tuple[list[tuple[str, str]], dict[str, Any], list[tuple[str, str]]]:
        monkeypatch.setattr(reconciler, "BATCH", batch)
        client = ServerLike()
        op = _operator(client, tenants=7)
        body = _body()

        async def scenario() -> tuple[dict[str, Any], list[tuple[str, str]]]:
            await op.run_pass(body, LOGGER, full=True)
            first = sorted(client.calls)
            _feed(op, client)
            op.view.apply_event("namespaces", None, _ns("team-2"))  # leaves: pruned by the next whole pass
            status = await op.run_pass(body, LOGGER, full=True)
            return status, first

        status, first = asyncio.run(scenario())
        return first, status["components"], sorted(c for c in client.calls if c[0] != "PATCH")

    assert run(2) == run(500)


class _StopAfter:
    """kopf's DaemonStopped, as far as the daemon loop uses it: true once `passes` passes have run."""

    def __init__(self, calls: list[tuple[float, bool]], passes: int) -> None:
        self.calls, self.passes = calls, passes

    def __bool__(self) -> bool:
        return len(self.calls) >= self.passes


def test_a_busy_cluster_still_gets_a_full_pass_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes every 5 s keep the passes partial, yet a full one (the safety net) comes every interval (60 s)."""
    now = [0.0]
    op = evaluator.Operator(clock=lambda: now[0])
    op.view.apply_event("namespaces", None, _ns("team-0", TENANT))
    calls: list[tuple[float, bool]] = []
    monkeypatch.setattr(evaluator, "DEBOUNCE", 0.0)

    async def one_pass(body: kopf.Body, logger: logging.Logger, full: bool = True) -> None:
        calls.append((now[0], full))
        state = op.state(UID)
        state.since, state.spec_generation = op.view.generation, 1
        now[0] += 5.0  # a pass, then a tenant changes: the next pass is due at once
        op.view.apply_event("namespaces", None, _ns("team-0", {**TENANT, "tick": str(len(calls))}))

    monkeypatch.setattr(op, "evaluate_once", one_pass)
    asyncio.run(op._evaluate_until_stopped(_body(), _StopAfter(calls, 30), LOGGER))  # type: ignore[arg-type]
    fulls = [t for t, full in calls if full]
    assert fulls == [0.0, 60.0, 120.0]
    assert sum(1 for _, full in calls if not full) == 27


def test_a_deleted_object_always_has_a_manifest_to_come_back_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast repair path reads memory.desired while a pass runs: a whole pass in steps replaces each step's
    manifests in one go, never leaving a moment without them; a component that fails to render keeps its last."""
    from aiconform.components import COMPONENTS as components
    from aiconform.operator import reconciler

    monkeypatch.setattr(reconciler, "BATCH", 2)
    client = ServerLike()
    op = _operator(client, tenants=5)
    body = _body()
    seen_gaps: list[int] = []
    real_carry_out = reconciler._carry_out

    async def watching(*args: Any, **kw: Any) -> None:
        seen_gaps.append(len(wanted - op.state(UID).memory.desired.keys()))
        await real_carry_out(*args, **kw)

    async def scenario() -> None:
        await _settled(op, client, body)
        monkeypatch.setattr(reconciler, "_carry_out", watching)
        await op.run_pass(body, LOGGER, full=True)
        assert seen_gaps and set(seen_gaps) == {0}
        monkeypatch.setattr(
            reconciler, "COMPONENTS", {**components, "quotas": lambda *a: (_ for _ in ()).throw(RuntimeError("boom"))}
        )
        status = await op.run_pass(body, LOGGER, full=True)
        assert "rendering failed" in status["components"]["quotas"]["message"]
        assert wanted <= op.state(UID).memory.desired.keys()  # the quotas' manifests are still there

    wanted: set[Any] = set()

    async def run() -> None:
        await op.run_pass(body, LOGGER, full=True)
        _feed(op, client)
        wanted.update(op.state(UID).memory.desired.keys())
        await scenario()

    asyncio.run(run())
