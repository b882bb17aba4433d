"""The real Kueue and KEDA controllers on the dev cluster, and the operator next to them (issue 18).

The controllers are built on first use inside the session (progress on the terminal; several minutes each on 2
cores, then cached), started for this module only and stopped after it, so every other module keeps a cluster in
which nothing acts on the operator's objects. Everything this module creates is deleted while they still run
(their finalizers need them); what other modules' objects got from them is released by `stop_controllers`.

KEDA's scalers would query Prometheus: a fake one on 127.0.0.1 answers, and production.yaml's prometheusAddress
is pointed at it (the network rule: nothing leaves 127.0.0.0/8; the controllers' refusing proxy enforces it).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, Cluster, Operator

from aiconform.api.constants import FIELD_MANAGER, LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.devtools.devcluster import query_api
from aiconform.devtools.devcluster.controllers import controllers_status, start_controllers, stop_controllers

pytestmark = pytest.mark.e2e
NAMES = ("kueue", "keda")
PASS_WINDOW = 30.0  # seconds of operator passes watched with both controllers acting
DELETE_BUDGET = 15.0  # seconds for `kubectl delete cprof` to return
MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# The kinds the operator makes today, and those that act on them or on what it selects (one `kubectl get`).
INVENTORY = (
    "namespaces",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "deviceclasses.resource.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
    "resourceflavors.kueue.x-k8s.io",
    "clusterqueues.kueue.x-k8s.io",
    "localqueues.kueue.x-k8s.io",
    "workloads.kueue.x-k8s.io",
    "serviceaccounts",
    "configmaps",
    "resourcequotas",
    "networkpolicies.networking.k8s.io",
    "services",
    "daemonsets.apps",
    "controllerrevisions.apps",
    "deployments.apps",
    "replicasets.apps",
    "jobs.batch",
    "pods",
    "servicemonitors.monitoring.coreos.com",
    "scaledobjects.keda.sh",
    "horizontalpodautoscalers.autoscaling",
)


def _progress(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Build and start-up progress straight to the terminal, past pytest's capture (a cold build takes minutes)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            print(f"[real-controllers] {line}", file=sys.stderr, flush=True)

    return say


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


def is_true(obj: dict[str, Any] | None, ctype: str) -> bool:
    return (condition(obj, ctype) or {}).get("status") == "True"


def managers(obj: dict[str, Any]) -> set[str]:
    return {m.get("manager", "") for m in obj["metadata"].get("managedFields") or []}


def operator_managers(obj: dict[str, Any], profile: str) -> set[str]:
    """The field managers of the operator on `obj`: its own, and the one it labels foreign objects with."""
    return managers(obj) & {FIELD_MANAGER, f"{FIELD_MANAGER}-{profile}"}


def get(cluster: Cluster, *args: str) -> dict[str, Any] | None:
    out = cluster.kubectl("get", "-o", "json", "--show-managed-fields", *args, check=False)
    if out.returncode != 0:
        if "NotFound" in out.stderr:
            return None
        raise AssertionError(f"kubectl get {' '.join(args)}: {out.stderr.strip()}")
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def items(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    return list((get(cluster, *args) or {}).get("items", []))


def apply(cluster: Cluster, *docs: dict[str, Any]) -> None:
    manifest = yaml.safe_dump_all(list(docs))
    cluster.kubectl("apply", "--server-side", "--field-manager=aiconform-e2e", "-f", "-", input=manifest)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def pod_spec(resources: dict[str, str], **extra: Any) -> dict[str, Any]:
    """One container; restricted Pod Security and production.yaml's seccomp policy satisfied."""
    return {
        **extra,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True},
        "containers": [
            {
                "name": "main",
                "image": "example.invalid/workload:1",  # never pulled: kwok runs no containers
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }


def job(name: str, ns: str, queue: str, pods: int, resources: dict[str, str]) -> dict[str, Any]:
    """A Job submitted to a Kueue LocalQueue, suspended (what Kueue's webhook, not registered here, would do)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": {"kueue.x-k8s.io/queue-name": queue}},
        "spec": {
            "suspend": True,
            "parallelism": pods,
            "completions": pods,
            "backoffLimit": 0,
            "template": {"spec": pod_spec(resources, restartPolicy="Never")},
        },
    }


def deployment(name: str, ns: str, labels: dict[str, str], resources: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": pod_spec(resources),
            },
        },
    }


def workloads_of(cluster: Cluster, ns: str, job_name: str) -> list[dict[str, Any]]:
    return [
        w
        for w in items(cluster, "workloads.kueue.x-k8s.io", "-n", ns)
        if any(o.get("kind") == "Job" and o.get("name") == job_name for o in w["metadata"].get("ownerReferences", []))
    ]


def job_pods(cluster: Cluster, ns: str, job_name: str) -> list[dict[str, Any]]:
    return items(cluster, "pods", "-n", ns, "-l", f"batch.kubernetes.io/job-name={job_name}")


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """Answers every instant query with one sample: 5, active (above activationThreshold 1) and below one
    replica's target (threshold 10), so KEDA keeps the Deployment as it is."""
    url, server = query_api.start("5")
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def controllers(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Kueue and KEDA running against the session's dev cluster for this module; the cluster directory."""
    root = Path(cluster.kubeconfig).parent
    if not (root / "state.json").is_file():
        pytest.skip(f"$KUBECONFIG is not a cluster made by `aiconform dev-cluster` ({cluster.kubeconfig})")
    say = _progress(request)
    started = time.monotonic()
    ours = start_controllers(root, NAMES, say)
    say(f"{', '.join(NAMES)} ready in {time.monotonic() - started:.0f}s (started here: {', '.join(ours) or 'none'})")
    try:
        yield root
    finally:
        stop_controllers(root, ours, say)


class Namespaces:
    """Namespaces of one test, deleted at its end while the controllers still run (their finalizers)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.names: list[str] = []

    def create(self, name: str, labels: dict[str, str] | None = None) -> str:
        apply(self.cluster, namespace(name, labels))
        self.names.append(name)
        return name

    def close(self) -> None:
        for ns in self.names:
            self.cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
        for ns in self.names:
            self.cluster.kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=90s", check=False)


@pytest.fixture
def namespaces(cluster: Cluster, controllers: Path) -> Iterator[Namespaces]:
    spaces = Namespaces(cluster)
    try:
        yield spaces
    finally:
        spaces.close()


# --- Kueue ---------------------------------------------------------------------------------------------------

CQ = "e2e-rc-cq"
FLAVOR = "e2e-rc-default"


def _cluster_queue(cpu: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": CQ},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [{"name": FLAVOR, "resources": [{"name": "cpu", "nominalQuota": cpu}]}],
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def kueue_queue(cluster: Cluster, controllers: Path) -> Iterator[str]:
    """A 1-CPU ClusterQueue and a LocalQueue `lq` in a namespace of its own; returns the namespace."""
    ns = "e2e-rc-jobs"
    apply(
        cluster,
        namespace(ns),
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": FLAVOR}},
        _cluster_queue("1", ns),
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": ns},
            "spec": {"clusterQueue": CQ},
        },
    )
    try:
        yield ns
    finally:
        cluster.kubectl("delete", "namespace", ns, "--timeout=90s", "--ignore-not-found", check=False)
        for kind in ("clusterqueue.kueue.x-k8s.io/" + CQ, "resourceflavor.kueue.x-k8s.io/" + FLAVOR):
            cluster.kubectl("delete", kind, "--timeout=60s", "--ignore-not-found", check=False)


def test_kueue_marks_cluster_queue_active(cluster: Cluster, kueue_queue: str) -> None:
    cq = cluster.wait_for(
        "ClusterQueue Active=True",
        lambda: (o := get(cluster, "clusterqueue.kueue.x-k8s.io", CQ)) and is_true(o, "Active") and o,
        timeout=60,
    )
    status_managers = {m["manager"] for m in cq["metadata"]["managedFields"] if m.get("subresource") == "status"}
    assert status_managers == {"kueue"}, "the status is Kueue's"
    lq = cluster.wait_for(
        "LocalQueue Active=True",
        lambda: (
            (o := get(cluster, "localqueue.kueue.x-k8s.io", "lq", "-n", kueue_queue)) and is_true(o, "Active") and o
        ),
        timeout=30,
    )
    assert lq["status"]["conditions"]


def test_kueue_holds_a_job_until_the_quota_allows_it_whole(cluster: Cluster, kueue_queue: str) -> None:
    ns, name = kueue_queue, "two-pods"
    apply(cluster, job(name, ns, "lq", 2, {"cpu": "1"}))  # the queue covers cpu only
    try:
        wl = cluster.wait_for(
            "a pending Workload for the Job",
            lambda: (w := workloads_of(cluster, ns, name)) and condition(w[0], "QuotaReserved") and w[0],
            timeout=60,
        )
        assert not is_true(wl, "QuotaReserved"), wl["status"]
        assert "insufficient quota" in (condition(wl, "QuotaReserved") or {}).get("message", ""), wl["status"]
        held_until = time.monotonic() + 5
        while time.monotonic() < held_until:  # it stays held: suspended, no pod
            current = get(cluster, "job", name, "-n", ns)
            assert current is not None and current["spec"]["suspend"] is True
            assert not job_pods(cluster, ns, name)
            time.sleep(0.5)
        cluster.kubectl(
            "patch",
            "clusterqueue.kueue.x-k8s.io",
            CQ,
            "--type=json",
            "-p",
            json.dumps(
                [{"op": "replace", "path": "/spec/resourceGroups/0/flavors/0/resources/0/nominalQuota", "value": "2"}]
            ),
        )
        cluster.wait_for(
            "the Job admitted and resumed",
            lambda: (j := get(cluster, "job", name, "-n", ns)) and j["spec"]["suspend"] is False,
            timeout=60,
        )
        assert is_true(workloads_of(cluster, ns, name)[0], "Admitted")
        pods = cluster.wait_for(
            "both pods", lambda: len(job_pods(cluster, ns, name)) == 2 and job_pods(cluster, ns, name), timeout=60
        )
        assert len(pods) == 2
        cluster.wait_for(
            "the Job complete (kwok runs the pods)",
            lambda: is_true(get(cluster, "job", name, "-n", ns), "Complete"),
            timeout=90,
        )
    finally:
        cluster.kubectl("delete", "job", name, "-n", ns, "--cascade=foreground", "--timeout=60s", check=False)


# --- KEDA ----------------------------------------------------------------------------------------------------


def scaled_object(name: str, ns: str, prometheus: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 1,
            "maxReplicaCount": 3,
            "triggers": [
                {"type": "prometheus", "metadata": {"serverAddress": prometheus, "query": "sum(up)", "threshold": "10"}}
            ],
        },
    }


def test_keda_makes_scaled_object_ready_and_creates_its_hpa(
    cluster: Cluster, namespaces: Namespaces, prometheus: str
) -> None:
    ns = namespaces.create("e2e-rc-keda")
    apply(cluster, deployment("web", ns, {}, {"cpu": "100m"}), scaled_object("web", ns, prometheus))
    so = cluster.wait_for(
        "ScaledObject Ready=True",
        lambda: (o := get(cluster, "scaledobject.keda.sh", "web", "-n", ns)) and is_true(o, "Ready") and o,
        timeout=90,
    )
    hpa = cluster.wait_for("KEDA's HPA", lambda: get(cluster, "hpa", "keda-hpa-web", "-n", ns), timeout=30)
    owner = hpa["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner.get("controller")) == (
        "ScaledObject",
        "web",
        so["metadata"]["uid"],
        True,
    )
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web" and hpa["spec"]["maxReplicas"] == 3


# --- the operator next to both (issue 18) ----------------------------------------------------------------------

TENANT = "e2e-rc-tenant"
GPU_POD = (("cpu", "1"), ("memory", "1Gi"), ("nvidia.com/gpu", "1"))


def operator_user(kubeconfig: str) -> str | None:
    """The operator's user name as the audit log shows it: the `sub` of its ServiceAccount token."""
    users = yaml.safe_load(Path(kubeconfig).read_text())["users"]
    token = users[0]["user"].get("token")
    if not token:
        return None  # AICONFORM_E2E_ADMIN=1: the admin; the user agent tells it apart
    payload = token.split(".")[1]
    sub: str = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    return sub


class Audit:
    """The API server's audit log from now on (Metadata level: who, verb, object)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "logs" / "audit.log"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def events(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return [json.loads(line) for line in log.read().splitlines() if line.strip()]


def operator_writes(audit: Audit, user: str | None, resources: set[str]) -> list[str]:
    """Mutating requests the operator made on `resources` (plural names)."""
    out = []
    for event in audit.events():
        ref = event.get("objectRef") or {}
        by_operator = (
            event.get("user", {}).get("username") == user
            if user
            else (str(event.get("userAgent", "")).startswith("aiconform-operator"))
        )
        if by_operator and event.get("verb") in MUTATING and ref.get("resource") in resources:
            out.append(f"{event['verb']} {ref.get('resource')} {ref.get('namespace', '')}/{ref.get('name', '')}")
    return out


def inventory(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Every object of the kinds the operator manages, and of the kinds acting on them, by uid."""
    known = set(cluster.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split())
    kinds = sorted(set(INVENTORY) & known)
    return {o["metadata"]["uid"]: o for o in items(cluster, ",".join(kinds), "-A")}


def owned_by(obj: dict[str, Any], roots: set[str], objects: dict[str, dict[str, Any]]) -> bool:
    """Whether `obj`'s owner chain reaches one of `roots` (uids)."""
    seen: set[str] = set()
    todo = [o["uid"] for o in obj["metadata"].get("ownerReferences") or []]
    while todo:
        uid = todo.pop()
        if uid in roots:
            return True
        if uid in seen or uid not in objects:
            continue
        seen.add(uid)
        todo += [o["uid"] for o in objects[uid]["metadata"].get("ownerReferences") or []]
    return False


def made_by(obj: dict[str, Any], profile: dict[str, Any]) -> bool:
    """Made by the operator for `profile`: its labels and a controller reference to the profile. Labels alone do
    not tell: KEDA copies a ScaledObject's labels onto the HPA it makes (issue 18)."""
    labels = obj["metadata"].get("labels") or {}
    refs = obj["metadata"].get("ownerReferences") or []
    return (
        labels.get(LABEL_PROFILE) == profile["metadata"]["name"]
        and labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE
        and any(r.get("kind") == "ConformanceProfile" and r.get("uid") == profile["metadata"]["uid"] for r in refs)
    )


def test_operator_keeps_working_next_to_real_kueue_and_keda(
    cluster: Cluster,
    controllers: Path,
    operator: Operator,
    operator_kubeconfig: str,
    prometheus: str,
    namespaces: Namespaces,
) -> None:
    doc = yaml.safe_load((ROOT / "examples" / "production.yaml").read_text())
    name = doc["metadata"]["name"]
    assert get(cluster, "cprof", name) is None, f"a ConformanceProfile {name} is left over from another test"
    doc["spec"]["components"]["keda"]["prometheusAddress"] = prometheus  # loopback: the network rule
    tenant = namespaces.create(TENANT, {"aiconform.io/tenant": "true"})
    apply(cluster, deployment("llm", tenant, {"aiconform.io/inference": "true"}, dict(GPU_POD)))
    audit, log_from, user = Audit(controllers), len(operator.log_text()), operator_user(operator_kubeconfig)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))
    try:
        _with_both(cluster, operator, name, tenant, audit, log_from, user)
    finally:
        cluster.kubectl("delete", "cprof", name, "--ignore-not-found", "--timeout=90s", check=False)


def _with_both(
    cluster: Cluster, operator: Operator, name: str, tenant: str, audit: Audit, log_from: int, user: str | None
) -> None:
    lq = cluster.wait_for(
        "the operator's LocalQueue, Active by Kueue",
        lambda: (
            (o := get(cluster, "localqueue.kueue.x-k8s.io", "default", "-n", tenant)) and is_true(o, "Active") and o
        ),
        timeout=90,
    )
    profile = get(cluster, "cprof", name)
    assert profile is not None and made_by(lq, profile)
    apply(cluster, job("train", tenant, "default", 1, dict(GPU_POD)))
    cluster.wait_for(
        "the GPU Job admitted by Kueue through the operator's queue",
        lambda: (w := workloads_of(cluster, tenant, "train")) and is_true(w[0], "Admitted"),
        timeout=60,
    )
    so = cluster.wait_for(
        "the operator's ScaledObject Ready=True by KEDA",
        lambda: (o := get(cluster, "scaledobject.keda.sh", "llm", "-n", tenant)) and is_true(o, "Ready") and o,
        timeout=120,
    )
    assert made_by(so, profile)
    hpa = cluster.wait_for("KEDA's HPA", lambda: get(cluster, "hpa", "keda-hpa-llm", "-n", tenant), timeout=30)
    hpa_uid, so_uid = hpa["metadata"]["uid"], so["metadata"]["uid"]
    assert [o["uid"] for o in hpa["metadata"]["ownerReferences"]] == [so_uid]

    # Several operator passes with both controllers acting: spec changes, and a tenant label touched.
    evaluated: set[str] = set()
    for step, interval in enumerate((10, 20)):
        before = get(cluster, "cprof", name) or {}
        cluster.kubectl(
            "patch", "cprof", name, "--type=merge", "-p", json.dumps({"spec": {"evaluationIntervalSeconds": interval}})
        )
        generation = (get(cluster, "cprof", name) or {})["metadata"]["generation"]
        last = (before.get("status") or {}).get("lastEvaluated")
        cluster.wait_for(
            f"status of generation {generation} (observedGeneration and lastEvaluated move)",
            lambda g=generation, t=last: (
                (s := (get(cluster, "cprof", name) or {}).get("status") or {})
                and s.get("observedGeneration") == g
                and s.get("lastEvaluated") != t
                and s.get("requirements")
            ),
            timeout=20,
        )
        deadline = time.monotonic() + PASS_WINDOW / 2
        tick = 0
        while time.monotonic() < deadline:
            tick += 1
            cluster.kubectl("label", "namespace", tenant, f"e2e-rc-touch={step}-{tick}", "--overwrite")
            now_hpa = get(cluster, "hpa", "keda-hpa-llm", "-n", tenant)
            assert now_hpa is not None and now_hpa["metadata"]["uid"] == hpa_uid, "KEDA's HPA was replaced"
            assert [o["uid"] for o in now_hpa["metadata"]["ownerReferences"]] == [so_uid]
            assert not operator_managers(now_hpa, name), managers(now_hpa)
            now_so = get(cluster, "scaledobject.keda.sh", "llm", "-n", tenant)
            assert now_so is not None and now_so["metadata"]["uid"] == so_uid, "the operator replaced its ScaledObject"
            status = (get(cluster, "cprof", name) or {}).get("status") or {}
            evaluated.add(str(status.get("lastEvaluated")))
            time.sleep(1.0)
    for wl in items(cluster, "workloads.kueue.x-k8s.io", "-A"):
        assert not operator_managers(wl, name), (wl["metadata"]["name"], managers(wl))
    failures = [line for line in operator.log_text()[log_from:].splitlines() if "Evaluation failed" in line]
    assert not failures, failures[:3]
    writes = operator_writes(audit, user, {"horizontalpodautoscalers", "workloads"})
    assert not writes, writes[:5]
    assert len(evaluated) >= 2, f"lastEvaluated did not move over {PASS_WINDOW:.0f}s: {evaluated}"
    current = get(cluster, "cprof", name)
    assert is_true(current, "Ready"), condition(current, "Ready")
    for comp in ("kueue", "keda"):
        state = ((current or {}).get("status") or {}).get("components", {}).get(comp) or {}
        assert state.get("state") == "Ready" and not state.get("conflicts"), (comp, state)

    # Drift: one of its objects deleted is made again.
    cluster.kubectl("delete", "localqueue.kueue.x-k8s.io", "default", "-n", tenant, "--wait=false")
    cluster.wait_for(
        "the LocalQueue repaired",
        lambda: (
            (o := get(cluster, "localqueue.kueue.x-k8s.io", "default", "-n", tenant))
            and o["metadata"]["uid"] != lq["metadata"]["uid"]
            and not o["metadata"].get("deletionTimestamp")
        ),
        timeout=15,
    )

    # Deletion: quick, and exactly what it made goes (KEDA's HPA follows its ScaledObject through the owner chain).
    before = inventory(cluster)
    made = {uid for uid, o in before.items() if made_by(o, profile)}
    assert so_uid in made and hpa_uid not in made and owned_by(before[hpa_uid], made, before)
    started = time.monotonic()
    cluster.kubectl("delete", "cprof", name, f"--timeout={DELETE_BUDGET * 4:.0f}s")
    took = time.monotonic() - started
    print(f"\n[real-controllers] profile {name} deleted in {took:.1f}s")
    assert took <= DELETE_BUDGET, f"deleting the profile took {took:.1f}s"
    after = cluster.wait_for(
        "every object the operator made gone",
        lambda: (now := inventory(cluster)) and not (made & now.keys()) and hpa_uid not in now and now,
        timeout=60,
    )
    made_namespaces = {o["metadata"]["name"] for uid, o in before.items() if uid in made and o["kind"] == "Namespace"}
    unexplained = [
        f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for uid, o in before.items()
        if uid not in after
        and uid not in made
        and not owned_by(o, made, before)
        and o["metadata"].get("namespace") not in made_namespaces
    ]
    assert not unexplained, f"removed but not the operator's: {unexplained[:10]}"
    for kept in (("namespace", tenant), ("deployment", "llm", "-n", tenant), ("job", "train", "-n", tenant)):
        assert get(cluster, *kept) is not None, f"{kept} was removed"


# --- the network rule ----------------------------------------------------------------------------------------


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6} notation: little-endian 32-bit words."""
    host = hex_addr.split(":")[0]
    raw = b"".join(bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, len(host), 8))
    ip = ipaddress.ip_address(raw)
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def tcp_sockets(pid: int) -> list[tuple[str, str]]:
    """(local, remote) addresses of every TCP socket the process holds, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                found.append((fields[1], fields[2]))
    return found


def test_controllers_listen_and_connect_on_loopback_only(controllers: Path) -> None:
    running = controllers_status(controllers)
    assert {n for n, c in running.items() if c["running"]} >= set(NAMES), running
    for name in NAMES:
        sockets = tcp_sockets(running[name]["pid"])
        assert sockets, f"{name} holds no TCP socket"
        for local, remote in sockets:
            peer = _address(remote)
            assert _address(local).is_loopback, (name, local)
            assert peer.is_loopback or peer.is_unspecified, (name, remote)  # unspecified: a listener
