"""Faults, sized for CI: the operator SIGKILLed again and again mid-reconcile, kube-apiserver restarted
mid-reconcile, etcd briefly unavailable (SIGSTOP). After recovery everything converges: every object the profile
asks for exists exactly once, with our labels and owner reference, no object of ours was lost (deleted or
replaced), nothing extra carries the profile's label, the user's objects are untouched (same resourceVersion)
and the user's clashing object is reported in status.

Each test uses its own namespaces and profile (`e2e-fault-<hex>`). Components whose cluster-scoped objects have
fixed names (Kueue's ResourceFlavors, the seccomp admission policy) are left off when another profile already
uses them; dra and dcgmExporter are always off. The API-server and etcd faults need the dev cluster's processes:
they run on a cluster this session started, or on a reused dev cluster found by its API port, and always restore
it. Run with -s to see the convergence times.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import Cluster, Operator

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.components._common import dns1123_label
from aiconform.devtools.devcluster import cluster as devcluster
from aiconform.devtools.devcluster import processes, upstream
from aiconform.devtools.devcluster.fleet import default_pools
from aiconform.devtools.devcluster.paths import cache_root
from aiconform.devtools.devcluster.processes import Proc
from aiconform.kube.client import KubeClient, load_credentials
from aiconform.kube.kinds import MANAGED_KINDS as KINDS

pytestmark = pytest.mark.e2e

CONVERGE_TIMEOUT = 45.0  # seconds after the last fault (healthy: 1-6 s; the operator forgets a false clash after 60 s)
KILLS = 5
APISERVER_STOP_GRACE = 5.0  # seconds of SIGTERM before SIGKILL
APISERVER_DOWN = 3.0  # seconds
ETCD_PAUSE = 4.0  # seconds
NETWORK_POLICIES = (
    "aiconform-default-deny",
    "aiconform-allow-dns",
    "aiconform-allow-same-namespace",
    "aiconform-allow-monitoring",
)
SECCOMP_POLICY = "aiconform-require-seccomp"
QUOTA = "aiconform-gpu"
LOCAL_QUEUE = "default"
CLASH = "aiconform-default-deny"  # the user's NetworkPolicy that takes one of our names
STALE_AFTER = dt.timedelta(minutes=5)  # an e2e-fault profile older than this is a leftover of an aborted run

Key = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name


def _run(cluster: Cluster, fn: Any) -> Any:
    async def go() -> Any:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            return await fn(kube)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def kueue_crds(cluster: Cluster) -> None:
    _run(cluster, lambda kube: upstream.install(kube, ["kueue"]))


def _resource(api_version: str, plural: str) -> str:
    group = api_version.rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


@pytest.fixture(scope="module")
def managed_kinds(cluster: Cluster, kueue_crds: None) -> str:
    """Every kind a component may write that this server serves, as one `kubectl get` argument."""
    served = set(cluster.kubectl("api-resources", "-o", "name").stdout.split())
    kinds = [_resource(k.api_version, k.plural) for k in KINDS]
    return ",".join(k for k in kinds if k in served)


# --- the profile under test ---------------------------------------------------------------------------------


def _other_profiles(cluster: Cluster) -> list[dict[str, Any]]:
    """Profiles of others; our own leftovers of an aborted run (older than STALE_AFTER) are deleted first."""
    now = dt.datetime.now(dt.UTC)
    others = []
    for prof in cluster.get_json("cprof")["items"]:
        meta = prof["metadata"]
        created = dt.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        if meta["name"].startswith("e2e-fault-") and now - created > STALE_AFTER:
            cluster.kubectl("delete", "cprof", meta["name"], "--wait=false", check=False)
            continue
        others.append(prof)
    return others


def _gpu_flavors(cluster: Cluster) -> set[str]:
    nodes = cluster.get_json("nodes", "-l", "nvidia.com/gpu.present=true")["items"]
    products = {n["metadata"]["labels"].get("nvidia.com/gpu.product") for n in nodes}
    return {dns1123_label(p) for p in products if p}


class Stack:
    """A profile with quotas, networkPolicies, kueue and seccomp over tenant namespaces unique to the test, plus
    the user's own objects in them, which must never be touched."""

    def __init__(self, cluster: Cluster, kinds: str, tenants: int) -> None:
        self.cluster = cluster
        self.kinds = kinds
        self.id = "f" + uuid.uuid4().hex[:6]  # a letter first: "3671e5" would be read as a YAML number
        self.name = f"e2e-fault-{self.id}"
        self.namespaces = [f"e2e-fault-{self.id}-{i}" for i in range(tenants)]
        self.selected: list[str] = []
        self.clash_ns = self.namespaces[len(self.namespaces) // 2]
        self.user_rv: dict[Key, str] = {}
        self.flavors = _gpu_flavors(cluster)
        self.kueue, self.seccomp = self._free_components()
        self.spec: dict[str, Any] = {
            "mode": "Enforce",
            "evaluationIntervalSeconds": 10,
            "tenants": {"namespaceSelector": {"matchLabels": {"e2e-fault": self.id}}},
            "components": {
                "dra": {"enabled": False},
                "dcgmExporter": {"enabled": False},
                "keda": {"enabled": False},
                "quotas": {"enabled": True, "gpusPerTenant": 2},
                "networkPolicies": {"enabled": True},
                "kueue": {"enabled": self.kueue, "clusterQueue": self.name},
                "seccomp": {"enabled": self.seccomp, "enforcement": "Deny"},
            },
        }

    def _free_components(self) -> tuple[bool, bool]:
        """kueue and seccomp, unless another profile (or a leftover object) holds their fixed-name objects."""
        kueue, seccomp = True, True
        for prof in _other_profiles(self.cluster):
            spec = prof.get("spec") or {}
            selector = (spec.get("tenants") or {}).get("namespaceSelector") or {}
            if not selector.get("matchLabels") and not selector.get("matchExpressions"):
                pytest.skip(f"profile {prof['metadata']['name']} selects every namespace, ours included")
            comps = spec.get("components") or {}
            kueue = kueue and not (comps.get("kueue") or {}).get("enabled")
            seccomp = seccomp and not (comps.get("seccomp") or {}).get("enabled")
        flavors = self.cluster.kubectl("get", "resourceflavors.kueue.x-k8s.io", "-o", "name", check=False).stdout
        kueue = kueue and not any(line.rpartition("/")[2] in self.flavors for line in flavors.split())
        vap = self.cluster.kubectl("get", "validatingadmissionpolicy", SECCOMP_POLICY, check=False)
        seccomp = seccomp and vap.returncode != 0
        return kueue, seccomp

    # set-up

    def create(self) -> None:
        """The namespaces (unselected) and the user's objects in them, in one request stream."""
        docs: list[dict[str, Any]] = []
        for ns in self.namespaces:
            docs.append(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"e2e-fault-ns": self.id}}}
            )
        user = {"e2e-fault-user": self.id}
        for ns in self.namespaces:
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "user-settings", "namespace": ns, "labels": user},
                    "data": {"model": "llama"},
                }
            )
            docs.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": "user-allow-web", "namespace": ns, "labels": user},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8080}]}]},
                }
            )
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": CLASH, "namespace": self.clash_ns, "labels": user},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }
        )
        self.cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        self.user_rv = self.user_objects()
        assert len(self.user_rv) == 2 * len(self.namespaces) + 1, self.user_rv

    def select(self, namespaces: list[str]) -> None:
        if namespaces:
            self.cluster.kubectl("label", "namespace", *namespaces, f"e2e-fault={self.id}")
            self.selected += namespaces

    def apply(self) -> None:
        doc = {
            "apiVersion": "aiconform.io/v1alpha1",
            "kind": "ConformanceProfile",
            "metadata": {"name": self.name},
            "spec": self.spec,
        }
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    def close(self) -> None:
        self.cluster.kubectl("delete", "cprof", self.name, "--ignore-not-found", "--timeout=60s", check=False)
        self.cluster.kubectl("delete", "namespace", *self.namespaces, "--ignore-not-found", "--wait=false", check=False)

    # what the cluster holds

    def user_objects(self) -> dict[Key, str]:
        items = self.cluster.get_json(
            "configmaps,networkpolicies.networking.k8s.io", "-A", "-l", f"e2e-fault-user={self.id}"
        )["items"]
        return {_key(o): o["metadata"]["resourceVersion"] for o in items}

    def managed(self, timeout: str = "30s") -> list[dict[str, Any]] | None:
        out = self.cluster.kubectl(
            "get",
            self.kinds,
            "-A",
            "-l",
            f"{LABEL_PROFILE}={self.name}",
            "-o",
            "json",
            f"--request-timeout={timeout}",
            check=False,
        )
        return list(json.loads(out.stdout)["items"]) if out.returncode == 0 else None

    def expected(self) -> set[Key]:
        want: set[Key] = set()
        for ns in self.selected:
            want.add(("ResourceQuota", ns, QUOTA))
            want |= {("NetworkPolicy", ns, p) for p in NETWORK_POLICIES if (ns, p) != (self.clash_ns, CLASH)}
            if self.kueue:
                want.add(("LocalQueue", ns, LOCAL_QUEUE))
        if self.kueue:
            want.add(("ClusterQueue", "", self.name))
            want |= {("ResourceFlavor", "", f) for f in self.flavors}
        if self.seccomp:
            want |= {("ValidatingAdmissionPolicy", "", SECCOMP_POLICY)}
            want |= {("ValidatingAdmissionPolicyBinding", "", SECCOMP_POLICY)}
        return want

    def problems(self) -> list[str]:
        """Everything that differs from the converged state; empty when converged."""
        profile = self.cluster.get_json("cprof", self.name)
        uid = profile["metadata"]["uid"]
        items = self.managed()
        if items is None:
            return ["listing managed objects failed"]
        found: list[str] = []
        counts = Counter(_key(o) for o in items)
        found += [f"duplicate {k}" for k, n in counts.items() if n > 1]
        want = self.expected()
        missing, extra = sorted(want - set(counts)), sorted(set(counts) - want)
        if missing:
            found.append(f"{len(missing)} missing, e.g. {missing[:3]}")
        if extra:
            found.append(f"{len(extra)} extra: {extra[:5]}")
        for obj in items:
            found += _ownership_problems(obj, self.name, uid)
        found += self._user_problems()
        found += self._namespace_problems()
        found += self._status_problems(profile)
        return found

    def _user_problems(self) -> list[str]:
        now = self.user_objects()
        return [f"user's {k} changed or gone" for k, rv in self.user_rv.items() if now.get(k) != rv]

    def _namespace_problems(self) -> list[str]:
        if not self.seccomp:
            return []
        nss = self.cluster.get_json("namespaces", "-l", f"e2e-fault={self.id}")["items"]
        unlabelled = [
            n["metadata"]["name"]
            for n in nss
            if n["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted"
        ]
        return [f"no Pod Security label on {unlabelled[:3]}"] if unlabelled else []

    def _status_problems(self, profile: dict[str, Any]) -> list[str]:
        status = profile.get("status") or {}
        found = []
        generation = profile["metadata"]["generation"]
        if status.get("observedGeneration") != generation:
            found.append(f"observedGeneration {status.get('observedGeneration')} != generation {generation}")
        comps = status.get("components") or {}
        want_states = {"quotas": "Ready", "networkPolicies": "Conflict"}
        want_states["kueue"] = "Ready" if self.kueue else "Disabled"
        want_states["seccomp"] = "Ready" if self.seccomp else "Disabled"
        want_states |= {"dra": "Disabled", "dcgmExporter": "Disabled", "keda": "Disabled"}
        for comp, state in want_states.items():
            got = comps.get(comp) or {}
            if got.get("state") != state:
                found.append(f"{comp} is {got.get('state')} ({got.get('message', '')[:300]}), want {state}")
            conflicts = got.get("conflicts") or []
            want_conflicts = [f"NetworkPolicy {self.clash_ns}/{CLASH}"] if comp == "networkPolicies" else []
            if conflicts != want_conflicts:
                found.append(f"{comp} conflicts {conflicts[:5]}, want {want_conflicts}")
        return found

    def wait_converged(self, operator: Operator, fault: str, since: float) -> float:
        """Poll until converged; returns (and prints) the seconds since `since`."""
        deadline = since + CONVERGE_TIMEOUT
        last: list[str] = []
        shown: list[str] = []
        while time.monotonic() < deadline:
            try:
                last = self.problems()
            except AssertionError as exc:  # kubectl failed: the API server may still be recovering
                last = [str(exc)[:500]]
            if not last:
                took = time.monotonic() - since
                print(f"[faults] {fault}: {self.name} converged {took:.2f}s after recovery")
                return took
            if last != shown:
                print(f"[faults]   +{time.monotonic() - since:.1f}s: {'; '.join(last)[:400]}")
                shown = last
            time.sleep(0.3)
        tail = "\n".join(operator.log_text().splitlines()[-40:])
        raise AssertionError(
            f"{fault}: not converged {CONVERGE_TIMEOUT:.0f}s after recovery: {last}\noperator log tail:\n{tail}"
        )

    def assert_untouched(self) -> None:
        assert self.user_objects() == self.user_rv, "the user's objects were modified"
        clash = self.cluster.get_json("networkpolicy", "-n", self.clash_ns, CLASH)["metadata"]
        assert LABEL_MANAGED_BY not in clash.get("labels", {}) and not clash.get("ownerReferences")


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def _ownership_problems(obj: dict[str, Any], profile: str, uid: str) -> list[str]:
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    found = []
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE or "app.kubernetes.io/component" not in labels:
        found.append(f"{_key(obj)} lacks our labels: {labels}")
    refs = meta.get("ownerReferences") or []
    ok = (
        len(refs) == 1
        and refs[0].get("kind") == "ConformanceProfile"
        and refs[0].get("name") == profile
        and refs[0].get("uid") == uid
        and refs[0].get("controller") is True
    )
    if not ok:
        found.append(f"{_key(obj)} owner references {refs}")
    return found


class Tracker(threading.Thread):
    """Polls the profile's objects in the background: an object that vanishes from a later listing or comes
    back with a new uid was lost (deleted, maybe re-created). Listing errors (server down) are only counted."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True, name=f"tracker-{stack.name}")
        self.stack = stack
        self.uids: dict[Key, list[str]] = {}
        self.vanished: Counter[Key] = Counter()
        self.present = 0
        self.polls = 0
        self.failures = 0
        self._halt = threading.Event()

    def run(self) -> None:
        before: set[Key] = set()
        while not self._halt.is_set():
            items = self.stack.managed(timeout="3s")
            if items is None:
                self.failures += 1
            else:
                self.polls += 1
                now = {_key(o): o["metadata"]["uid"] for o in items}
                for key, uid in now.items():
                    seen = self.uids.setdefault(key, [])
                    if uid not in seen:
                        seen.append(uid)
                self.vanished.update(before - set(now))
                before, self.present = set(now), len(now)
            self._halt.wait(0.25)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def lost(self) -> list[str]:
        out = [f"{k} vanished {n}x" for k, n in sorted(self.vanished.items())]
        out += [f"{k} replaced ({len(u)} uids)" for k, u in sorted(self.uids.items()) if len(u) > 1]
        return out


@pytest.fixture
def make_stack(cluster: Cluster, operator: Operator, managed_kinds: str) -> Iterator[Any]:
    made: list[tuple[Stack, Tracker]] = []

    def make(tenants: int) -> tuple[Stack, Tracker]:
        stack = Stack(cluster, managed_kinds, tenants)
        print(f"\n[faults] {stack.name}: {tenants} namespaces, kueue={stack.kueue} seccomp={stack.seccomp}")
        stack.create()
        tracker = Tracker(stack)
        made.append((stack, tracker))
        return stack, tracker

    yield make
    for stack, tracker in made:
        if tracker.is_alive():
            tracker.stop()
        _ensure_running(operator, cluster)
        stack.close()


def _wait_log(operator: Operator, offset: int, needle: str, timeout: float = 20) -> float:
    """Seconds until the operator's log, past `offset`, mentions `needle` (the operator must stay up)."""
    started = time.monotonic()
    while needle not in operator.log_text()[offset:]:
        assert operator.proc is not None and operator.proc.poll() is None, "the operator exited"
        assert time.monotonic() - started < timeout, f"{needle!r} not in the operator log after {timeout:.0f}s"
        time.sleep(0.05)
    return time.monotonic() - started


def _ensure_running(operator: Operator, cluster: Cluster) -> None:
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start(cluster)


# --- the dev cluster's processes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DevCluster:
    name: str
    port: int
    layout: devcluster.Layout
    binaries: dict[str, Path]

    def proc(self, component: str) -> Proc:
        return self.layout.proc(component, self.binaries[component])

    def ready(self, cluster: Cluster) -> bool:
        if not self.proc("kube-apiserver").running():
            return False
        return cluster.kubectl("get", "--raw", "/readyz", "--request-timeout=2s", check=False).returncode == 0

    def restore(self, cluster: Cluster) -> float:
        """`up` starts whatever is stopped (the fleet is re-applied unchanged); returns when /readyz is OK."""
        started = time.monotonic()
        devcluster.up(self.name, self.port, default_pools(), lambda line: print(f"[faults]   dev-cluster: {line}"))
        deadline = time.monotonic() + 90
        while not self.ready(cluster):
            assert time.monotonic() < deadline, "kube-apiserver not ready 90s after restart"
            time.sleep(0.2)
        return time.monotonic() - started


def _dev_cluster(cluster: Cluster) -> DevCluster:
    """The dev cluster behind the session's kubeconfig: the state dir whose kube-apiserver serves its port."""
    server = urlsplit(load_credentials(Path(cluster.kubeconfig)).server)
    if server.hostname != "127.0.0.1" or server.port is None:
        pytest.skip(f"needs a local dev cluster; the kubeconfig points at {server.netloc}")
    root = cache_root() / "clusters"
    for state_file in sorted(root.glob("*/state.json")):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if state.get("ports", {}).get("kube-apiserver") != server.port:
            continue
        layout = devcluster.Layout(state_file.parent)
        binaries = devcluster._binaries_from_state(layout)
        if not all(c in binaries for c in devcluster.COMPONENTS):
            continue
        found = DevCluster(state_file.parent.name, server.port, layout, binaries)
        if all(found.proc(c).running() for c in devcluster.COMPONENTS):
            return found
    pytest.skip(
        f"the session's cluster ({server.netloc}) is not a dev cluster this session can control: no "
        f"{root}/*/state.json with kube-apiserver port {server.port} and all components running"
    )


@contextlib.contextmanager
def _paused(proc: Proc, at_most: float) -> Iterator[None]:
    """SIGSTOP the process; SIGCONT it however the block ends. A watchdog process sends SIGCONT after `at_most`
    seconds even if this test process dies meanwhile (a CI timeout), so the shared cluster is never left frozen."""
    pid = proc.pid()
    assert pid is not None, f"{proc.name} is not running"
    code = f"import os, signal, time; time.sleep({at_most}); os.kill({pid}, signal.SIGCONT)"
    watchdog = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
        watchdog.kill()
        watchdog.wait()


def _converged_after_fault(
    stack: Stack, tracker: Tracker, operator: Operator, starts: int, fault: str, since: float
) -> float:
    took = stack.wait_converged(operator, fault, since)
    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
    assert operator.starts == starts, "the operator was restarted"
    assert operator.healthy()
    time.sleep(1.0)  # a few more polls: nothing of ours goes away after convergence either
    tracker.stop()
    pruned = [line for line in operator.log_text().splitlines() if f"[{stack.name}] Pruned" in line]
    assert not tracker.lost(), f"objects lost: {tracker.lost()[:10]}; the operator's log: {pruned[:10]}"
    stack.assert_untouched()
    return took


# --- the tests ----------------------------------------------------------------------------------------------


def test_operator_sigkill_mid_reconcile(cluster: Cluster, operator: Operator, make_stack: Any) -> None:
    stack, tracker = make_stack(20)
    batches = [stack.namespaces[i::KILLS] for i in range(KILLS)]
    rng = random.Random()
    seed = rng.randrange(1 << 32)
    rng.seed(seed)
    print(f"[faults] seed {seed}")
    warmups: list[float] = []
    tracker.start()
    try:
        for i, batch in enumerate(batches):
            if i == 0:
                stack.apply()  # the running operator starts on it at once
            else:
                # A fresh operator needs seconds (login, watches, discovery) before its first pass: wait for that
                # pass, then hand it new work, so the kill lands while it is being done.
                offset = len(operator.log_text())
                begun = time.monotonic()
                operator.start(cluster)
                _wait_log(operator, offset, f"[{stack.name}]")
                warmups.append(time.monotonic() - begun)
            stack.select(batch)
            delay = rng.uniform(0.1, 1.5)
            time.sleep(delay)
            operator.kill()
            left = stack.managed() or []
            print(
                f"[faults] kill {i + 1}/{KILLS} {delay:.2f}s after {len(batch)} more namespaces were selected: "
                f"{len(left)}/{len(stack.expected())} objects in place"
            )
        operator.start(cluster)
        restarted = time.monotonic()
    finally:
        _ensure_running(operator, cluster)
    print(f"[faults] a restarted operator took {min(warmups):.1f}-{max(warmups):.1f}s to its first pass")
    starts = operator.starts
    took = _converged_after_fault(stack, tracker, operator, starts, f"{KILLS} SIGKILLs", restarted)
    assert took < CONVERGE_TIMEOUT


def test_apiserver_restart_mid_reconcile(cluster: Cluster, operator: Operator, make_stack: Any) -> None:
    dev = _dev_cluster(cluster)
    stack, tracker = make_stack(10)
    stack.select(stack.namespaces)
    starts = operator.starts
    tracker.start()
    apiserver = dev.proc("kube-apiserver")
    try:
        stack.apply()
        stopping = time.monotonic()
        # SIGTERM, then SIGKILL: a draining API server can take longer than a CI job wants to wait.
        processes.stop(apiserver, timeout=APISERVER_STOP_GRACE)
        print(f"[faults] kube-apiserver stopped in {time.monotonic() - stopping:.2f}s")
        time.sleep(APISERVER_DOWN)
    finally:
        back = dev.restore(cluster)
    recovered = time.monotonic()
    print(f"[faults] kube-apiserver ready {back:.2f}s after `up`: {len(stack.managed() or [])} objects in place")
    took = _converged_after_fault(stack, tracker, operator, starts, "kube-apiserver restart", recovered)
    assert took < CONVERGE_TIMEOUT


def test_etcd_briefly_unavailable(cluster: Cluster, operator: Operator, make_stack: Any) -> None:
    dev = _dev_cluster(cluster)
    stack, tracker = make_stack(10)
    stack.select(stack.namespaces)
    starts = operator.starts
    tracker.start()
    stack.apply()
    with _paused(dev.proc("etcd"), at_most=ETCD_PAUSE + 20):
        time.sleep(ETCD_PAUSE)
    resumed = time.monotonic()
    try:
        deadline = resumed + 60
        while not dev.ready(cluster):
            assert time.monotonic() < deadline, "kube-apiserver not ready 60s after etcd resumed"
            time.sleep(0.2)
        ready = time.monotonic() - resumed
        print(f"[faults] kube-apiserver ready {ready:.2f}s after etcd resumed: {len(stack.managed() or [])} objects")
    finally:
        if not dev.proc("kube-apiserver").running():  # never leave the shared cluster down
            dev.restore(cluster)
    took = _converged_after_fault(stack, tracker, operator, starts, f"etcd paused {ETCD_PAUSE:.0f}s", resumed)
    assert took < CONVERGE_TIMEOUT
