"""Benchmark helpers: the workload (tenant namespaces, inference Deployments), the profile, counting and copies of
the rendered objects for the floor and kubectl comparisons. Package-free: imported by bench/run.py only."""

from __future__ import annotations

import asyncio
import copy
import http.server
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE
from aiconform.api.models import validate_profile
from aiconform.components import ProfileRef, apply_order, desired
from aiconform.devtools.devcluster import query_api
from aiconform.kube.client import KubeApiError, KubeClient, gather_bounded, path_for
from aiconform.kube.kinds import managed_kind as kind_info
from aiconform.kube.snapshot import Snapshot

PROFILE_LABEL = LABEL_PROFILE
TENANT_LABEL = "aiconform-bench/tenant"
COPY_LABEL = "aiconform-bench/copy"


def collection(api_version: str, plural: str) -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{base}/{plural}"


def profile_doc(name: str, run_id: str, dra: bool, prometheus: str | None = None) -> dict[str, Any]:
    """The bench profile. `prometheus`: the address KEDA's scalers query (a fake on loopback when the real KEDA
    runs: the default in-cluster address cannot resolve here, and KEDA would mark every ScaledObject Ready=False)."""
    keda: dict[str, Any] = {"enabled": True}
    if prometheus:
        keda["prometheusAddress"] = prometheus
    return {
        "apiVersion": "aiconform.io/v1alpha1",
        "kind": "ConformanceProfile",
        "metadata": {"name": name},
        "spec": {
            "mode": "Enforce",
            "tenants": {"namespaceSelector": {"matchLabels": {TENANT_LABEL: run_id}}},
            "components": {
                "dra": {"enabled": dra, "denyAdminAccess": dra},
                "kueue": {"enabled": True, "clusterQueue": f"bench-{run_id}"},
                "keda": keda,
                "quotas": {"enabled": True, "gpusPerTenant": 2},
                "networkPolicies": {"enabled": True},
                "seccomp": {"enabled": True, "enforcement": "Deny"},
            },
        },
    }


def namespaces(run_id: str, n: int) -> list[str]:
    return [f"bench-{run_id}-t{i:05d}" for i in range(n)]


def _deployment(ns: str, index: int) -> dict[str, Any]:
    labels = {"app": f"infer-{index}", "aiconform.io/inference": "true"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"infer-{index}", "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": f"infer-{index}"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    # Restricted Pod Security and seccomp satisfied: the profile's policies must not reject it.
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True},
                    "containers": [
                        {
                            "name": "server",
                            "image": "example.invalid/vllm:bench",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


async def create_workload(kube: KubeClient, run_id: str, n_ns: int, n_dep: int) -> list[str]:
    """N labelled tenant namespaces, then D inference Deployments spread over them round-robin (idempotent)."""
    names = namespaces(run_id, n_ns)

    async def make(obj: dict[str, Any]) -> None:
        try:
            await kube.create(obj, field_manager="aiconform-bench")
        except KubeApiError as exc:
            if exc.status != 409:
                raise

    ns_objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {TENANT_LABEL: run_id}}}
        for ns in names
    ]
    await gather_bounded(make(o) for o in ns_objs)
    await gather_bounded(make(_deployment(names[i % n_ns], i)) for i in range(n_dep))
    return names


def render(doc: dict[str, Any], snapshot: Snapshot, uid: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the operator should make for this profile on this snapshot: (objects, field patches)."""
    profile = validate_profile(doc)
    plans = desired(profile.spec, snapshot, ProfileRef(doc["metadata"]["name"], uid))
    objects = [o for p in plans.values() for o in p.objects]
    patches = [o for p in plans.values() for o in p.field_patches]
    return apply_order(objects), patches


def expected_counts(objects: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(f"{o['apiVersion']}/{o['kind']}" for o in objects))


def settled(profile: dict[str, Any], doc: dict[str, Any]) -> tuple[bool, dict[str, str]]:
    """Whether the profile's status is current (observedGeneration) with every enabled component Ready; and the
    component states, for the error when one reports a Conflict."""
    status = profile.get("status") or {}
    states = {k: v.get("state", "") for k, v in (status.get("components") or {}).items()}
    enabled = [k for k, v in doc["spec"]["components"].items() if v.get("enabled")]
    generation = (profile.get("metadata") or {}).get("generation")
    current = generation is not None and status.get("observedGeneration") == generation
    return current and all(states.get(c) == "Ready" for c in enabled), states


async def count_owned(kube: KubeClient, profile: str, kinds: list[str]) -> dict[str, int]:
    """Objects labelled aiconform.io/profile=<profile>, per kind (`apiVersion/Kind` keys)."""
    return await count_labelled(kube, f"{PROFILE_LABEL}%3D{profile}", kinds)


async def count_labelled(kube: KubeClient, selector: str, kinds: list[str]) -> dict[str, int]:
    """Objects matching a label selector (URL-encoded), per kind (`apiVersion/Kind` keys)."""

    async def one(key: str) -> tuple[str, int]:
        api_version, kind = key.rsplit("/", 1)
        path = collection(api_version, kind_info(kind).plural) + f"?labelSelector={selector}"
        return key, len(await kube.list(path))

    return dict(await asyncio.gather(*(one(k) for k in kinds)))


OUR_LABELS = {PROFILE_LABEL, LABEL_MANAGED_BY, "app.kubernetes.io/component"}


def copies(objects: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """The rendered objects written by someone else: namespaced ones in the twin namespace `<ns>-<suffix>` (not a
    tenant, so no ScaledObject of ours meets a foreign one for the same Deployment), cluster-scoped ones renamed
    `<name>-<suffix>`; our labels and owner reference removed, as a user's own objects would be, so the operator
    neither counts, prunes nor keeps them (kinds it watches only for its own objects). Same kinds, same bodies
    (but two or three label lines), same count."""
    out = []
    for obj in objects:
        c = copy.deepcopy(obj)
        meta = c["metadata"]
        if meta.get("namespace"):
            meta["namespace"] = twin(meta["namespace"], suffix)
        else:
            meta["name"] = _suffixed(meta["name"], suffix)
        meta.pop("ownerReferences", None)
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in OUR_LABELS}
        labels[COPY_LABEL] = suffix
        meta["labels"] = labels
        out.append(c)
    return out


def twin(namespace: str, suffix: str) -> str:
    return f"{namespace}-{suffix}"


async def create_twins(kube: KubeClient, names: list[str], suffixes: tuple[str, ...]) -> None:
    """Plain namespaces (not tenants) to hold the floor's and kubectl's copies; made before any timing."""

    async def make(name: str) -> None:
        try:
            await kube.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, field_manager="aiconform-bench"
            )
        except KubeApiError as exc:
            if exc.status != 409:
                raise

    await gather_bounded(make(twin(ns, s)) for ns in names for s in suffixes)


def _suffixed(name: str, suffix: str) -> str:
    base = name[: 250 - len(suffix)]
    return re.sub(r"[.-]+$", "", base) + f"-{suffix}"


async def write_floor(kube: KubeClient, objects: list[dict[str, Any]]) -> float:
    """POST every object as fast as the client allows: Namespaces first, then everything else concurrently."""
    started = time.monotonic()
    first = [o for o in objects if o["kind"] == "Namespace"]
    rest = [o for o in objects if o["kind"] != "Namespace"]
    for phase in (first, rest):
        await gather_bounded(kube.create(o, field_manager="aiconform-bench-floor") for o in phase)
    return time.monotonic() - started


def write_manifests(objects: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join("---\n" + json.dumps(o) + "\n" for o in objects))
    return path


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """`VmHWM` (peak RSS) or `VmRSS` (now) of a process, in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssByPhase:
    """Samples a process's RSS twice a second and keeps the highest value per phase: where the memory goes."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval, self.phase = pid, interval, "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        rss = peak_rss_mb(self.pid, "VmRSS")
        if rss is not None:
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), round(rss, 1))

    def enter(self, phase: str) -> None:
        self.sample()  # the end of the phase before belongs to it
        self.phase = phase

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return dict(self.peaks)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (`/proc/<pid>/stat` sums them), in seconds; None once
    it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after its closing one are fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


def start_fake_prometheus() -> tuple[str, http.server.ThreadingHTTPServer]:
    """A Prometheus query API on 127.0.0.1 for the real KEDA's scalers (devtools/devcluster/query_api.py). Every
    query answers 5: active, and under one replica's target (the bench profile's threshold is 10), so KEDA keeps
    each inference Deployment at one replica and nothing churns. Its base URL and the server."""
    return query_api.start("5")


def has_condition(obj: dict[str, Any], ctype: str) -> bool:
    """Whether `obj`'s status condition `ctype` is True."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions)


def field_managers(obj: dict[str, Any]) -> set[str]:
    return {m.get("manager", "") for m in obj.get("metadata", {}).get("managedFields") or []}


def hpas_of(hpas: list[dict[str, Any]], scaled_objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The HorizontalPodAutoscalers KEDA made for these ScaledObjects: owned by one of them (by uid)."""
    uids = {o["metadata"]["uid"] for o in scaled_objects}
    return [
        h
        for h in hpas
        if any(
            r.get("kind") == "ScaledObject" and r.get("uid") in uids for r in h["metadata"].get("ownerReferences") or []
        )
    ]


_GC_LINE = re.compile(r'^aiconform_gc_pause_seconds_(bucket|count|sum)\{generation="(\d)"(?:,le="([^"]+)")?\} (\S+)$')


def gc_pauses(text: str) -> dict[str, dict[str, float]]:
    """From the operator's metrics: per generation, collections, seconds in them, and how many took > 0.1 s and
    > 0.5 s (the histogram's buckets)."""
    out: dict[str, dict[str, float]] = {}
    buckets: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _GC_LINE.match(line)
        if m is None:
            continue
        part, gen, le, value = m.groups()
        if part == "bucket":
            buckets.setdefault(gen, {})[le] = float(value)
        else:
            out.setdefault(gen, {})["count" if part == "count" else "seconds"] = round(float(value), 3)
    for gen, row in out.items():
        b = buckets.get(gen)
        if not b:
            continue
        row["over_0.1_s"] = row.get("count", 0.0) - b.get("0.1", 0.0)
        row["over_0.5_s"] = row.get("count", 0.0) - b.get("0.5", 0.0)
    return out


def parse_request_totals(text: str) -> dict[tuple[str, str, str], float]:
    """apiserver_request_total summed by (verb, group, resource); the metric carries no user label."""
    totals: dict[tuple[str, str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_part, _, value = line.rpartition(" ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_part))
        key = (labels.get("verb", ""), labels.get("group", ""), labels.get("resource", ""))
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals


WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY", "CREATE", "UPDATE"}
AUDIT_WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
# The operator's two HTTP clients: kopf's watches and event posts, and KubeClient's writes and status patches.
OPERATOR_AGENTS = ("aiconform-operator", "kopf/")


def audit_requests(lines: Iterable[str], agents: tuple[str, ...] = OPERATOR_AGENTS) -> dict[str, int]:
    """Requests in audit-log lines made by clients whose user agent starts with one of `agents`, counted by
    "<verb> <group>/<resource>" (or "<verb> <path>" for non-resource URLs). Unreadable lines (a line being
    written as we read) are skipped."""
    counts: Counter[str] = Counter()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or not str(event.get("userAgent", "")).startswith(agents):
            continue
        ref = event.get("objectRef") or {}
        what = f"{ref.get('apiGroup', '')}/{ref['resource']}" if ref.get("resource") else event.get("requestURI", "")
        sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
        counts[f"{event.get('verb')} {what}{sub}"] += 1
    return dict(sorted(counts.items()))


__all__ = ["kind_info", "path_for"]
