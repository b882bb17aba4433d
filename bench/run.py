"""The aiconform benchmark, one command:

    python bench/run.py --namespaces N --nodes M --deployments D [--out results.json]

On a dedicated dev cluster (`bench`, API server on 127.0.0.1:16446, purged at the end unless --keep) it measures:

1. scale: time from `kubectl apply` of one profile until every desired object exists and status settled, against
   (a) the floor (the same objects POSTed by a tight client, concurrency 64) and (b) `kubectl apply --server-side`;
2. drift: delete managed objects one at a time, time until each is back (p50/p99);
3. memory: the operator's peak RSS (VmHWM), and its highest RSS in each phase;
4. steady state: API server request deltas and the operator's own writes over a quiet window;
5. change: the operator's CPU time for one label change on a tenant namespace (median of 3, idle rate removed);
6. with --with kueue,keda: the real Kueue and KEDA controllers run next to it (real_controllers: who wrote KEDA's
   HPAs, Kueue's ClusterQueue status, failed evaluations, how fast and how cleanly the profile is deleted).

Ratios are measured in the same run: the machine is shared, absolute seconds are not comparable between runs.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stack  # noqa: E402

from aiconform.api.constants import FIELD_MANAGER, GROUP, PLURAL, VERSION  # noqa: E402
from aiconform.devtools.devcluster import cluster, controllers, fleet, upstream  # noqa: E402
from aiconform.devtools.devcluster.build import build_all  # noqa: E402
from aiconform.devtools.devcluster.paths import cluster_dir  # noqa: E402
from aiconform.kube.client import KubeClient, load_credentials  # noqa: E402
from aiconform.kube.collect import collect  # noqa: E402

DRIFT_KINDS = ("NetworkPolicy", "ResourceQuota", "LocalQueue")
# Scale-run polling: the profile's status (one GET) every POLL s; the owned-object counts (a LIST per pending
# kind, heavy at 1,000 namespaces) every COUNT_EVERY s. Status settles after the last write, so it binds.
POLL = 0.1
COUNT_EVERY = 0.25
QUIET_S = 20.0  # no pass finished for this long: the operator has caught up
LISTING_LOG = re.compile(r"Initial listing complete: \d+ resources, \d+ objects in ([0-9.]+) s")
# change: the idle baseline before each label change, and how long no pass may finish (with the CPU back at idle)
# before the change counts as done. The operator's /metrics is read every CHANGE_TICK s in both windows alike.
CHANGE_BASELINE_S = 5.0
CHANGE_QUIET_S = 3.0
CHANGE_TICK = 0.5
CHANGE_LABEL = "aiconform-bench/touched"
# A baseline is idle when no pass finished in it and the operator used under this share of a core: a pass still
# running finishes nothing for seconds (23 s each at 5,000 namespaces on a loaded machine) but uses ~a core.
CHANGE_IDLE_MAX = 0.15
EVAL_FAILED = "Evaluation failed"
WRITE_LOG = re.compile(r"\b(Created|Repaired drift|Pruned|Labelled|Orphaned|Released|Patching|Updated)\b")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = "b" + uuid.uuid4().hex[:5]
        self.profile = f"bench-{self.run_id}"
        self.kubectl_bin = str(build_all(log)["kubectl"])
        self.kubeconfig = ""
        self.operator: subprocess.Popen[bytes] | None = None
        self.sampler: stack.RssByPhase | None = None
        self.metrics_port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="aiconform-bench-"))
        self.oplog = self.workdir / "operator.log"
        self.with_controllers = controllers.parse_controllers(args.with_) if args.with_ else []
        self.tenants: list[str] = []
        self.prometheus: Any = None  # the fake Prometheus server, with the real KEDA
        self.prometheus_url: str | None = None
        self.results: dict[str, Any] = {
            "sizes": {"namespaces": args.namespaces, "nodes": args.nodes, "deployments": args.deployments},
            "profile": self.profile,
        }

    # -- plumbing -------------------------------------------------------------------------------------------------

    def client(self, concurrency: int = 32) -> KubeClient:
        return KubeClient(load_credentials(Path(self.kubeconfig)), concurrency=concurrency)

    def kubectl(self, *argv: str, input: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *argv]
        out = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(argv[:3])}: {out.stderr.strip()[-1500:]}")
        return out

    def start_operator(self) -> None:
        live, met = free_port(), free_port()
        self.metrics_port = met
        cmd = [sys.executable, "-m", "aiconform", "run", "--kubeconfig", self.kubeconfig]
        cmd += ["--bind-address", "127.0.0.1", "--liveness-port", str(live), "--metrics-port", str(met)]
        with self.oplog.open("ab") as sink:
            self.operator = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        self.sampler = stack.RssByPhase(self.operator.pid)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.operator.poll() is not None:
                raise RuntimeError(f"operator exited: {self.oplog.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{live}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("operator not live after 90 s")

    def signal_operator(self, sig: signal.Signals) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.send_signal(sig)

    async def quiesce(self, bound: float = 900.0) -> float:
        """Seconds until the operator has finished no pass for QUIET_S (at most `bound`). QUIET_S stays well under
        the profile's 60 s interval, whose passes would otherwise keep it from ever looking quiet."""
        started = time.monotonic()
        last, since = self.passes()[0], time.monotonic()
        while time.monotonic() - started < bound:
            await asyncio.sleep(0.5)
            now = self.passes()[0]
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= QUIET_S:
                break
        return round(time.monotonic() - started, 2)

    def stop_operator(self) -> None:
        if self.sampler is not None:
            self.phase("stopped")
            self.results.setdefault("memory", {})["rss_mb_by_phase"] = self.sampler.stop()
            self.sampler = None
        if self.operator is None or self.operator.poll() is not None:
            return
        self.operator.terminate()
        try:
            self.operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.operator.kill()
            self.operator.wait()

    def operator_metrics(self) -> str:
        """The operator's /metrics text ("" when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def passes(self) -> tuple[float, float]:
        """The operator's own reconcile histogram: (passes so far, seconds spent in them)."""
        count = total = 0.0
        for line in self.operator_metrics().splitlines():
            if line.startswith("aiconform_reconcile_duration_seconds_count"):
                count += float(line.split()[-1])
            elif line.startswith("aiconform_reconcile_duration_seconds_sum"):
                total += float(line.split()[-1])
        return count, total

    def rss(self) -> float | None:
        return stack.peak_rss_mb(self.operator.pid) if self.operator else None

    def phase(self, name: str) -> None:
        """Tag the RSS samples from here on (results: memory.rss_mb_by_phase), and record the garbage collector's
        pauses so far (results: gc_pauses, cumulative at the end of each phase)."""
        if self.sampler is not None:
            self.results.setdefault("gc_pauses", {})[f"until_{self.sampler.phase}"] = stack.gc_pauses(
                self.operator_metrics()
            )
            self.sampler.enter(name)

    # -- phases ---------------------------------------------------------------------------------------------------

    def up(self) -> None:
        m = self.args.nodes
        h, a = m // 3, m // 3
        pools = fleet.default_pools(h, a, m - h - a)
        t = time.monotonic()
        self.kubeconfig = str(cluster.up(self.args.cluster_name, self.args.port, pools, log))
        self.results["setup"] = {"cluster_up_s": round(time.monotonic() - t, 2)}
        if self.with_controllers:
            if "keda" in self.with_controllers:
                # KEDA's scalers query this (loopback: the network rule): the default in-cluster Prometheus address
                # cannot resolve here and KEDA would mark every ScaledObject Ready=False.
                self.prometheus_url, self.prometheus = stack.start_fake_prometheus()
            t = time.monotonic()
            controllers.start_controllers(cluster_dir(self.args.cluster_name), self.with_controllers, log)
            self.results["setup"]["controllers_start_s"] = round(time.monotonic() - t, 2)

    async def setup(self) -> None:
        t = time.monotonic()
        async with self.client(64) as kube:
            await upstream.install(kube, ["kueue", "keda"])
            names = await stack.create_workload(kube, self.run_id, self.args.namespaces, self.args.deployments)
            await stack.create_twins(kube, names, ("f", "k"))
        self.tenants = names
        self.kubectl("apply", "--server-side", "--field-manager=aiconform-bench", "-f", str(ROOT / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd/conformanceprofiles.aiconform.io", "--timeout=60s")
        others = self.kubectl("get", "conformanceprofiles", "-o", "name").stdout.split()
        if others:
            # Fixed-name cluster objects (ClusterQueue flavors, policies) belong to the first profile: a second
            # one reports Conflict and would never settle. Measure on a cluster of its own.
            raise RuntimeError(
                f"cluster {self.args.cluster_name!r} already has {', '.join(others)}; the benchmark needs a fresh "
                f"cluster: aiconform dev-cluster --name {self.args.cluster_name} down --purge"
            )
        self.results["setup"]["workload_s"] = round(time.monotonic() - t, 2)

    async def expected(self) -> None:
        async with self.client() as kube:
            snapshot = await collect(kube, scrape=False)
        self.doc = stack.profile_doc(self.profile, self.run_id, self.args.dra, self.prometheus_url)
        objects, patches = stack.render(self.doc, snapshot, uid="00000000-0000-0000-0000-000000000000")
        self.objects, self.patches = objects, patches
        self.expect = stack.expected_counts(objects)
        self.results["objects"] = {"total": len(objects), "per_kind": self.expect, "field_patches": len(patches)}
        log(f"expected {len(objects)} objects: {self.expect}")

    async def settled(self, kube: KubeClient) -> tuple[bool, dict[str, str]]:
        obj = await kube.get(f"/apis/{GROUP}/{VERSION}/{PLURAL}/{self.profile}")
        return stack.settled(obj or {}, self.doc)

    async def scale(self) -> None:
        """Apply the profile; poll counts and status until both are complete (bounded)."""
        kinds = sorted(self.expect)
        started = time.monotonic()
        self.kubectl("apply", "-f", "-", input=json.dumps(self.doc))
        t_objects = t_settled = None
        deadline = started + self.args.scale_timeout
        counts: dict[str, int] = {}
        states: dict[str, str] = {}
        next_count = started
        async with self.client() as kube:
            while time.monotonic() < deadline:
                if t_objects is None and time.monotonic() >= next_count:
                    next_count = time.monotonic() + COUNT_EVERY
                    pending = [k for k in kinds if counts.get(k, 0) < self.expect[k]]
                    counts.update(await stack.count_owned(kube, self.profile, pending))
                    if all(counts.get(k, 0) >= self.expect[k] for k in kinds):
                        t_objects = time.monotonic() - started
                        log(f"all {sum(self.expect.values())} objects exist after {t_objects:.2f} s")
                if t_settled is None:
                    ok, states = await self.settled(kube)
                    if "Conflict" in states.values():
                        raise RuntimeError(f"the profile reports a Conflict and cannot settle: {states}")
                    if ok:
                        t_settled = time.monotonic() - started
                        log(f"status settled after {t_settled:.2f} s")
                if t_objects is not None and t_settled is not None:
                    break
                await asyncio.sleep(POLL)
        if t_objects is None or t_settled is None:
            raise RuntimeError(f"scale run not complete after {self.args.scale_timeout} s: {counts} {states}")
        self.results["scale"] = {"objects_s": round(t_objects, 3), "settled_s": round(t_settled, 3)}
        n, secs = self.passes()
        self.results["scale"]["operator_passes"] = n
        self.results["scale"]["operator_pass_mean_s"] = round(secs / n, 3) if n else None
        listed = LISTING_LOG.search(self.oplog.read_text(errors="replace"))
        self.results["scale"]["operator_initial_listing_s"] = float(listed.group(1)) if listed else None
        self.results.setdefault("memory", {})["peak_rss_mb_after_scale"] = self.rss()

    async def floor(self) -> None:
        objs = stack.copies(self.objects, "f")
        async with self.client(64) as kube:
            secs = await stack.write_floor(kube, objs)
        log(f"floor: {len(objs)} objects POSTed in {secs:.2f} s")
        self.results["scale"]["floor_s"] = round(secs, 3)

    async def kubectl_apply(self) -> None:
        objs = stack.copies(self.objects, "k")
        path = stack.write_manifests(objs, self.workdir / "kubectl.yaml")
        bound = self.args.kubectl_timeout
        started = time.monotonic()
        s = self.results["scale"]
        try:
            manager = "--field-manager=aiconform-bench-kubectl"
            self.kubectl("apply", "--server-side", manager, "-f", str(path), timeout=bound)
            secs, applied = time.monotonic() - started, len(objs)
        except subprocess.TimeoutExpired:
            # kubectl of 35,005 objects needs over an hour here: bounded, the run goes on to drift and steady.
            secs = time.monotonic() - started
            async with self.client() as kube:
                kinds = sorted(stack.expected_counts(objs))
                counts = await stack.count_labelled(kube, f"{stack.COPY_LABEL}%3Dk", kinds)
            applied = sum(counts.values())
        finished = applied == len(objs)
        log(f"kubectl apply --server-side: {applied} of {len(objs)} objects in {secs:.2f} s")
        s["kubectl_s"] = round(secs, 3)
        s["kubectl_applied"] = applied
        s["kubectl_finished"] = finished
        op = max(s["objects_s"], s["settled_s"])
        s["operator_s"] = round(op, 3)
        s["ratio_operator_floor"] = round(op / s["floor_s"], 2) if s["floor_s"] else None
        # Unfinished: kubectl's time is a lower bound, so this ratio is an upper bound.
        s["ratio_operator_kubectl"] = round(op / secs, 2) if secs else None
        s["ratio_objects_floor"] = round(s["objects_s"] / s["floor_s"], 2) if s["floor_s"] else None

    async def drift(self) -> None:
        """Delete managed objects one at a time; time until each is back with a new uid (GET every 20 ms)."""
        victims: list[dict[str, Any]] = []
        p0 = self.passes()
        async with self.client() as kube:
            for kind in DRIFT_KINDS:
                api_version = next(o["apiVersion"] for o in self.objects if o["kind"] == kind)
                plural = stack.kind_info(kind).plural
                path = stack.collection(api_version, plural) + f"?labelSelector={stack.PROFILE_LABEL}%3D{self.profile}"
                victims += [{**o, "apiVersion": api_version, "kind": kind} for o in await kube.list(path)]
            rng = random.Random(self.args.seed)
            chosen = [rng.choice(victims) for _ in range(self.args.drift)] if victims else []
            times: list[float] = []
            misses = 0
            per_kind: dict[str, list[float]] = {}
            missed_kinds: dict[str, int] = {}
            for obj in chosen:
                path = stack.path_for(obj)
                current = await kube.get(path)
                if current is None:
                    continue
                uid = current["metadata"]["uid"]
                await kube.delete(obj, uid=uid)
                started = time.monotonic()
                back = False
                while time.monotonic() - started < self.args.drift_timeout:
                    got = await kube.get(path)
                    if got is not None and got["metadata"]["uid"] != uid:
                        back = True
                        break
                    await asyncio.sleep(0.02)
                if back:
                    times.append(time.monotonic() - started)
                    per_kind.setdefault(obj["kind"], []).append(times[-1])
                else:
                    misses += 1
                    missed_kinds[obj["kind"]] = missed_kinds.get(obj["kind"], 0) + 1
        # A repair not seen within the bound counts as the bound: the percentiles are then lower bounds
        # ("censored") and say so, instead of quietly describing only the repairs that were fast.
        censored = times + [self.args.drift_timeout] * misses
        self.results["drift"] = {
            "deletions": len(chosen),
            "repaired": len(times),
            "not_repaired_within_s": {"count": misses, "bound_s": self.args.drift_timeout, "kinds": missed_kinds},
            "per_kind": {
                k: {"n": len(v), "p50_s": round(pct(v, 0.5) or 0, 3), "p99_s": round(pct(v, 0.99) or 0, 3)}
                for k, v in sorted(per_kind.items())
            },
            "p50_s": round(pct(censored, 0.5) or 0, 3) if censored else None,
            "p99_s": round(pct(censored, 0.99) or 0, 3) if censored else None,
            "percentiles_censored_at_bound": misses > 0,
            "repaired_only_p50_s": round(pct(times, 0.5) or 0, 3) if times else None,
            "repaired_only_p99_s": round(pct(times, 0.99) or 0, 3) if times else None,
            "max_s": round(max(times), 3) if times else None,
            "mean_s": round(statistics.mean(times), 3) if times else None,
            "operator_passes": (p1 := self.passes())[0] - p0[0],
            "operator_pass_mean_s": round((p1[1] - p0[1]) / (p1[0] - p0[0]), 3) if p1[0] > p0[0] else None,
        }
        log(f"drift: {self.results['drift']}")

    async def metrics_text(self) -> str:
        async with self.client() as kube:
            return await kube.get_text("/metrics")

    async def steady(self) -> None:
        secs = self.args.steady_seconds
        await asyncio.sleep(2)  # let the drift repairs' status writes land
        log_start = self.oplog.stat().st_size
        audit = cluster.audit_log(self.args.cluster_name)
        audit_start = audit.stat().st_size if audit.exists() else None
        before = stack.parse_request_totals(await self.metrics_text())
        p0 = self.passes()
        await asyncio.sleep(secs)
        p1 = self.passes()
        after = stack.parse_request_totals(await self.metrics_text())
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}
        managed = {(stack.kind_info(o["kind"]).plural) for o in self.objects} | {"conformanceprofiles"}
        writes = {f"{v} {g}/{r}": int(n) for (v, g, r), n in delta.items() if v in stack.WRITE_VERBS}
        lists = {f"{g}/{r}": int(n) for (v, g, r), n in delta.items() if v == "LIST"}
        with self.oplog.open("rb") as f:
            f.seek(log_start)
            window = f.read().decode(errors="replace").splitlines()
        op_writes = [line for line in window if WRITE_LOG.search(line)]
        by_operator = self.audited(audit, audit_start)
        self.results["steady"] = {
            "seconds": secs,
            "apiserver_writes_all_clients": writes,
            "apiserver_writes_to_managed_kinds": {k: n for k, n in writes.items() if k.split("/")[-1] in managed},
            "apiserver_lists_all_clients": lists,
            "apiserver_lists_of_managed_kinds": {k: n for k, n in lists.items() if k.split("/")[-1] in managed},
            # From the API server's audit log, by user agent: what the operator itself asked for.
            "operator_requests": by_operator,
            "operator_writes": None
            if by_operator is None
            else {k: n for k, n in by_operator.items() if k.split()[0] in stack.AUDIT_WRITE_VERBS},
            "operator_lists": None
            if by_operator is None
            else {k: n for k, n in by_operator.items() if k.split()[0] == "list"},
            "operator_log_writes": len(op_writes),
            "operator_log_write_samples": op_writes[:10],
            "operator_log_lines": len(window),
            "operator_passes": p1[0] - p0[0],
            "operator_pass_mean_s": round((p1[1] - p0[1]) / (p1[0] - p0[0]), 3) if p1[0] > p0[0] else None,
        }
        log(f"steady: {self.results['steady']}")

    def cpu(self) -> float:
        cpu = stack.cpu_seconds(self.operator.pid) if self.operator else None
        if cpu is None:
            raise RuntimeError("the operator exited")
        return cpu

    async def change(self) -> None:
        """The operator's CPU time for one label change on a tenant namespace: a merge patch adds a label, and
        the window runs until the passes it caused are done. The idle rate of a quiet baseline just before is
        taken off. Three namespaces, one change each; the median is `cpu_s`."""
        n = self.args.change_samples
        picked = [self.tenants[j] for j in sorted({i * len(self.tenants) // n for i in range(n)})]
        samples = []
        async with self.client() as kube:
            await self.hold_interval_passes(kube)
            for i, ns in enumerate(picked, 1):
                samples.append(await self.one_change(kube, ns, i))
                log(f"change {i}: {samples[-1]}")
        cpu = [s["cpu_s"] for s in samples]
        self.results["change"] = {
            "cpu_s": round(statistics.median(cpu), 3) if cpu else None,
            "cpu_s_samples": cpu,
            "cpu_raw_s": [s["cpu_raw_s"] for s in samples],
            "idle_cpu_per_s": [s["idle_cpu_per_s"] for s in samples],
            "passes": [s["passes"] for s in samples],
            "window_s": [s["window_s"] for s in samples],
            "timed_out": [s["timed_out"] for s in samples],
            "baseline_passes": [s["baseline_passes"] for s in samples],
            "baseline_wait_s": [s["baseline_wait_s"] for s in samples],
            # A sample is clean when its baseline was idle and its window ended quiet: an operator that never goes
            # quiet (passes back to back) makes every sample unclean, and cpu_s then means nothing.
            "clean_samples": sum(not s["timed_out"] and s["baseline_idle"] for s in samples),
            "namespaces": picked,
            "label": CHANGE_LABEL,
            "baseline_s": CHANGE_BASELINE_S,
            "quiet_s": CHANGE_QUIET_S,
        }
        log(f"change: {self.results['change']}")

    async def hold_interval_passes(self, kube: KubeClient) -> None:
        """No interval pass may fall in a change window: at 5,000 namespaces one is seconds of CPU, and an idle
        baseline that caught one (run c: 0.5 CPU/s "idle") took the change's cost off with it. The profile's
        interval goes to an hour for this phase; the spec change's own pass is waited out (status current, then
        quiet)."""
        path = f"/apis/{GROUP}/{VERSION}/{PLURAL}/{self.profile}"
        hold = {"spec": {"evaluationIntervalSeconds": 3600}}
        await kube.request("PATCH", path, body=hold, content_type="application/merge-patch+json")
        started = time.monotonic()
        while time.monotonic() - started < self.args.change_timeout:
            obj = await kube.get(path) or {}
            if (obj.get("status") or {}).get("observedGeneration") == (obj.get("metadata") or {}).get("generation"):
                break
            await asyncio.sleep(CHANGE_TICK)
        await self.ticks(CHANGE_QUIET_S)
        self.results.setdefault("change_setup", {})["interval_held_after_s"] = round(time.monotonic() - started, 2)

    async def ticks(self, seconds: float) -> tuple[float, float, float]:
        """Wait `seconds` reading /metrics every CHANGE_TICK (as the change window does, so both pay the same
        scrapes); (passes finished meanwhile, CPU seconds used, seconds elapsed)."""
        p0, c0, t0 = self.passes()[0], self.cpu(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(CHANGE_TICK)
            self.passes()
        return self.passes()[0] - p0, self.cpu() - c0, time.monotonic() - t0

    async def one_change(self, kube: KubeClient, namespace: str, n: int) -> dict[str, Any]:
        # The idle baseline must be idle (no pass finished, under CHANGE_IDLE_MAX of a core): windows are taken
        # one after another until one is, bounded by --change-timeout; else the last is used and reported
        # (baseline_passes, idle_cpu_per_s, baseline_idle).
        waited = time.monotonic()
        while True:
            base_passes, base_cpu, base_s = await self.ticks(CHANGE_BASELINE_S)
            idle = base_cpu / base_s
            baseline_idle = base_passes == 0 and idle < CHANGE_IDLE_MAX
            if baseline_idle or time.monotonic() - waited >= self.args.change_timeout:
                break
        waited = time.monotonic() - waited
        p_start, c_start, t_start = self.passes()[0], self.cpu(), time.monotonic()
        body = {"metadata": {"labels": {CHANGE_LABEL: str(n)}}}
        await kube.request(
            "PATCH", f"/api/v1/namespaces/{namespace}", body=body, content_type="application/merge-patch+json"
        )
        # Done: a pass finished since the patch, then none for CHANGE_QUIET_S and the last tick's CPU near idle
        # (a second pass still running finishes no pass for seconds, but uses a core). Bounded.
        count, last_pass, timed_out = p_start, None, True
        c_prev, t_prev = c_start, t_start
        while time.monotonic() - t_start < self.args.change_timeout:
            await asyncio.sleep(CHANGE_TICK)
            now_count, c_now, t_now = self.passes()[0], self.cpu(), time.monotonic()
            busy = (c_now - c_prev) / (t_now - t_prev)
            c_prev, t_prev = c_now, t_now
            if now_count != count:
                count, last_pass = now_count, t_now
            elif last_pass is not None and t_now - last_pass >= CHANGE_QUIET_S and busy <= idle + 0.1:
                timed_out = False
                break
        window = t_prev - t_start
        raw = c_prev - c_start
        return {
            "namespace": namespace,
            "cpu_s": round(raw - idle * window, 3),
            "cpu_raw_s": round(raw, 3),
            "idle_cpu_per_s": round(idle, 4),
            "passes": count - p_start,
            "window_s": round(window, 2),
            "timed_out": timed_out,
            "baseline_passes": base_passes,
            "baseline_idle": baseline_idle,
            "baseline_wait_s": round(waited, 2),
        }

    def collection_of(self, kind: str) -> str:
        api_version = next(o["apiVersion"] for o in self.objects if o["kind"] == kind)
        return stack.collection(api_version, stack.kind_info(kind).plural)

    def owned_query(self) -> str:
        return f"?labelSelector={stack.PROFILE_LABEL}%3D{self.profile}"

    async def keda_kueue_state(self, kube: KubeClient) -> dict[str, Any]:
        """Our ScaledObjects and the HPAs KEDA made for them; our ClusterQueues and LocalQueues, and how many
        their controllers marked Active/Ready."""
        state: dict[str, Any] = {}
        if "keda" in self.with_controllers:
            sos = await kube.list(self.collection_of("ScaledObject") + self.owned_query())
            hpas = stack.hpas_of(await kube.list("/apis/autoscaling/v2/horizontalpodautoscalers"), sos)
            ours = {FIELD_MANAGER, f"{FIELD_MANAGER}-{self.profile}"}
            state |= {
                "scaled_objects": sos,
                "hpas": hpas,
                "scaled_objects_ready": sum(stack.has_condition(o, "Ready") for o in sos),
                "keda_hpas": len(hpas),
                "keda_hpas_written_by_aiconform": sum(bool(stack.field_managers(h) & ours) for h in hpas),
            }
        if "kueue" in self.with_controllers:
            cqs = await kube.list(self.collection_of("ClusterQueue") + self.owned_query())
            lqs = await kube.list(self.collection_of("LocalQueue") + self.owned_query())
            state |= {
                "cluster_queues": len(cqs),
                "cluster_queues_active": sum(stack.has_condition(o, "Active") for o in cqs),
                "local_queues": len(lqs),
                "local_queues_active": sum(stack.has_condition(o, "Active") for o in lqs),
            }
        return state

    async def owned_left(self, kube: KubeClient) -> list[dict[str, Any]]:
        """Our objects (the profile's label, the expected kinds) that still exist: kind, name, whether deleting,
        finalizers."""
        left = []
        for key in sorted(self.expect):
            api_version, kind = key.rsplit("/", 1)
            path = stack.collection(api_version, stack.kind_info(kind).plural) + self.owned_query()
            for o in await kube.list(path):
                meta = o["metadata"]
                left.append(
                    {
                        "kind": kind,
                        "name": "/".join(filter(None, (meta.get("namespace"), meta["name"]))),
                        "deleting": "deletionTimestamp" in meta,
                        "finalizers": meta.get("finalizers", []),
                    }
                )
        return left

    @staticmethod
    def controllers_done(state: dict[str, Any]) -> bool:
        keda = "scaled_objects" not in state or state["keda_hpas"] >= len(state["scaled_objects"])
        kueue = "cluster_queues" not in state or state["cluster_queues_active"] >= state["cluster_queues"]
        return keda and kueue

    async def real_controllers(self) -> None:
        """With the real Kueue and KEDA running: KEDA made an HPA per ScaledObject of ours and the operator never
        wrote one; Kueue made our ClusterQueues Active; no evaluation failed; then the profile is deleted: how
        long until it is gone, what of ours is left, and KEDA's HPAs go with their ScaledObjects (the garbage
        collector), not by a delete of ours (audit log)."""
        bound = self.args.controllers_timeout
        audit = cluster.audit_log(self.args.cluster_name)
        out: dict[str, Any] = {"controllers": self.with_controllers}
        async with self.client() as kube:
            started = time.monotonic()
            state = await self.keda_kueue_state(kube)
            while not self.controllers_done(state) and time.monotonic() - started < bound:
                await asyncio.sleep(1)
                state = await self.keda_kueue_state(kube)
            out["controllers_settled_s"] = round(time.monotonic() - started, 2)
            out["controllers_settled"] = self.controllers_done(state)
            sos, hpas = state.pop("scaled_objects", []), state.pop("hpas", [])
            out |= {"scaled_objects": len(sos), **state}
            failed = [line for line in self.oplog.read_text(errors="replace").splitlines() if EVAL_FAILED in line]
            out["evaluation_failed_lines"] = len(failed)
            out["evaluation_failed_samples"] = failed[:3]
            # Profile deletion.
            audit_start = audit.stat().st_size if audit.exists() else None
            path = f"/apis/{GROUP}/{VERSION}/{PLURAL}/{self.profile}"
            started = time.monotonic()
            await kube.request("DELETE", path, ok_missing=True)
            gone = False
            while time.monotonic() - started < bound:
                if await kube.get(path) is None:
                    gone = True
                    break
                await asyncio.sleep(0.1)
            out["profile_delete_s"] = round(time.monotonic() - started, 2) if gone else None
            out["profile_deleted_within_s"] = {"deleted": gone, "bound_s": bound}
            left = await self.owned_left(kube)
            out["objects_left"] = len(left)
            # What is left when the profile is gone: per object, whether it is being deleted and whose finalizers
            # hold it (Kueue keeps a ResourceFlavor while a ClusterQueue still uses it).
            out["objects_left_detail"] = left[:20]
            started = time.monotonic()
            while left and time.monotonic() - started < bound:
                await asyncio.sleep(0.5)
                left = await self.owned_left(kube)
            out["objects_left_after_wait"] = len(left)
            out["objects_gone_after_profile_s"] = round(time.monotonic() - started, 2) if not left else None
            # KEDA's HPAs follow their ScaledObjects through the owner chain (the garbage collector): bounded wait.
            started = time.monotonic()
            remaining = hpas
            while remaining and time.monotonic() - started < bound:
                await asyncio.sleep(0.5)
                remaining = stack.hpas_of(await kube.list("/apis/autoscaling/v2/horizontalpodautoscalers"), sos)
            out["keda_hpas_left"] = len(remaining)
            out["keda_hpas_gone_after_delete_s"] = round(time.monotonic() - started, 2) if not remaining else None
        by_operator = self.audited(audit, audit_start)
        out["operator_requests_during_delete"] = by_operator
        out["operator_hpa_deletes"] = (
            None
            if by_operator is None
            else sum(n for k, n in by_operator.items() if k.startswith("delete autoscaling/horizontalpodautoscalers"))
        )
        whole = self.audited(audit, 0)
        out["operator_hpa_writes_whole_run"] = (
            None
            if whole is None
            else {
                k: n
                for k, n in whole.items()
                if k.split()[0] in stack.AUDIT_WRITE_VERBS and "horizontalpodautoscalers" in k
            }
        )
        self.results["real_controllers"] = out
        log(f"real controllers: {out}")

    @staticmethod
    def audited(audit: Path, start: int | None) -> dict[str, int] | None:
        """The operator's requests in the audit log since byte `start` (None: no audit log to read)."""
        if start is None or not audit.exists() or audit.stat().st_size < start:
            return None  # no log, or it was rotated during the window: say unknown rather than a partial count
        with audit.open("rb") as f:
            f.seek(start)
            return stack.audit_requests(f.read().decode(errors="replace").splitlines())

    def teardown(self) -> None:
        self.stop_operator()
        if self.prometheus is not None:
            self.prometheus.shutdown()
            self.prometheus.server_close()
        if not self.args.keep and self.kubeconfig:
            cluster.down(self.args.cluster_name, True, log)


async def measured(b: Bench) -> None:
    await b.setup()
    await b.expected()
    b.start_operator()
    # Phases of the RSS samples: "start" ends when the operator is live (imports, login), "listing" is the
    # warm-up (its initial LISTs and watches, before any profile).
    b.phase("listing")
    # Let the operator finish its initial LISTs before the clock starts: otherwise the API server's in-flight
    # limit answers 429 and it backs off, and the scale time measures the operator's cold start.
    await asyncio.sleep(b.args.warmup_seconds)
    b.results["setup"]["operator_warmup_s"] = b.args.warmup_seconds
    b.phase("scale")
    await b.scale()
    # The baselines run with the operator stopped (SIGSTOP): they measure the API server, not a contest for the
    # same two cores. Afterwards it catches up on their watch events before drift is timed.
    b.phase("baselines")
    b.signal_operator(signal.SIGSTOP)
    try:
        await b.floor()
        await b.kubectl_apply()
    finally:
        b.signal_operator(signal.SIGCONT)
    b.phase("catch_up")
    b.results["setup"]["operator_catch_up_s"] = await b.quiesce(b.args.catch_up_timeout)
    if b.args.drift:
        b.phase("drift")
        await b.drift()
    if b.args.steady_seconds > 0:
        b.phase("steady")
        await b.steady()
    if b.args.change_samples > 0:
        b.phase("change")
        await b.change()
    b.results["memory"]["peak_rss_mb"] = b.rss()
    if b.with_controllers:
        b.phase("real_controllers")
        await b.real_controllers()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--namespaces", type=int, default=100, help="tenant namespaces (default 100)")
    p.add_argument("--nodes", type=int, default=200, help="GPU fleet nodes, 1/3 H100, 1/3 A100, rest CPU (200)")
    p.add_argument("--deployments", type=int, default=100, help="inference Deployments, replicas 1 (default 100)")
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--drift", type=int, default=200, help="managed objects to delete one at a time (default 200)")
    p.add_argument("--drift-timeout", type=float, default=5.0, help="bound per repair, seconds (default 5)")
    p.add_argument("--steady-seconds", type=int, default=60, help="quiet window (default 60; the full run: 300)")
    p.add_argument("--scale-timeout", type=float, default=1800.0, help="bound on the scale run (default 1800 s)")
    p.add_argument(
        "--kubectl-timeout",
        type=float,
        default=3600.0,
        help="bound on the kubectl baseline; past it, how many it applied is reported (default 3600 s)",
    )
    p.add_argument("--warmup-seconds", type=float, default=15.0, help="after operator start, before apply (15)")
    p.add_argument(
        "--catch-up-timeout",
        type=float,
        default=900.0,
        help="bound on the wait for the operator's catch-up after the baselines (900 s)",
    )
    p.add_argument("--dra", action="store_true", help="also enable the dra component")
    p.add_argument(
        "--with",
        dest="with_",
        default="",
        metavar="kueue,keda",
        help="run these real controllers against the bench cluster and add the real_controllers phase",
    )
    p.add_argument(
        "--change-samples", type=int, default=3, help="label changes, one namespace each, for change.cpu_s (3)"
    )
    p.add_argument("--change-timeout", type=float, default=60.0, help="bound on one label change's window (60 s)")
    p.add_argument(
        "--controllers-timeout", type=float, default=180.0, help="bound on each wait of real_controllers (180 s)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cluster-name", default="bench", help="dev cluster name (default bench)")
    p.add_argument("--port", type=int, default=16446, help="kube-apiserver port (default 16446)")
    p.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = p.parse_args(argv)
    if args.namespaces < 1 or args.nodes < 3:
        p.error("need at least 1 namespace and 3 nodes")

    b = Bench(args)
    status = 0
    try:
        b.up()
        asyncio.run(measured(b))
    except Exception as exc:  # report what we have, then fail
        log(f"FAILED: {type(exc).__name__}: {exc}")
        b.results["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        b.results["operator_log"] = str(b.oplog)
        try:
            b.teardown()
        except Exception as exc:
            log(f"teardown: {exc}")
    text = json.dumps(b.results, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return status


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
