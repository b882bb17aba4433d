"""The sandbox a probe runs in, and the talking to the API server: create what the probe needs (labelled as a
probe's), wait for what it expects with a deadline, record every step, and remove everything it made, also on a
timeout, an error or a cancellation. Leftovers of earlier runs are removed before a new run starts."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.probes.record import (
    LABEL_PROBE,
    Record,
    dashed,
    foreign_objects,
    leftovers,
    namespace_name,
    prefix_problem,
    probe_labels,
    utc_now,
)

T = TypeVar("T")
POLL = 0.25  # seconds between polls of what a step waits for
CLEANUP_TIMEOUT = 30.0
# Namespaced kinds a probe makes or its controllers make for it; a probe namespace holding others is not deleted.
CONTENT_PATHS = (
    "/api/v1/namespaces/{ns}/pods",
    "/apis/batch/v1/namespaces/{ns}/jobs",
    "/apis/apps/v1/namespaces/{ns}/deployments",
)


class ProbeEnded(Exception):
    """Ends a run early with an outcome (raised by a probe body or by a step)."""

    def __init__(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self.message = message
        super().__init__(message)


class StepTimedOut(ProbeEnded):
    def __init__(self, step: str, waited: float, last: str) -> None:
        seen = f" (last seen: {last})" if last else ""
        super().__init__("timed_out", f"timed out after {waited:.0f}s waiting for: {step}{seen}")
        self.step = step


def not_permitted(exc: KubeApiError, what: str) -> ProbeEnded:
    return ProbeEnded(
        "not_permitted",
        f"not permitted to {what} (HTTP 403: {exc}); grant the probes' RBAC (Helm value probes.enabled=true)",
    )


def is_rbac_denial(exc: KubeApiError) -> bool:
    """A 403 from authorization (`User "x" cannot create resource ...`), not from an admission plugin."""
    return exc.status == 403 and " cannot " in str(exc) and "is forbidden: User" in str(exc)


def shown(result: object) -> str:
    """What a wait's result says in the transcript: a name or a list of them; nothing for a bare True."""
    if isinstance(result, str):
        return result
    if isinstance(result, list | tuple):
        return "\n".join(str(r) for r in result)
    return ""


class Sandbox:
    """One probe run's namespace and objects. Use `async with Sandbox(...) as box:`; leaving removes them all."""

    def __init__(
        self,
        kube: KubeClient,
        record: Record,
        *,
        prefix: str,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.record = record
        self.prefix = prefix
        self.timeout = timeout
        self.clock = clock
        self.start = clock()
        self.deadline = self.start + timeout
        self.run_id = secrets.token_hex(3)
        self.namespace = ""
        self.made: list[tuple[str, str]] = []  # (REST path, "Kind ns/name"), deleted in reverse order

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cleanup()

    # --- time and steps -------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock() - self.start

    async def step(self, name: str, action: Awaitable[T], what: str | None = None) -> T:
        """Do one thing and record it; a 403 from authorization ends the run as not permitted."""
        began = self.now()
        try:
            out = await action
        except KubeApiError as exc:
            self.record.step(name, began, self.now() - began, ok=False, detail=str(exc))
            if is_rbac_denial(exc):
                raise not_permitted(exc, what or name) from None
            raise
        except StepTimedOut as end:
            self.record.step(name, began, self.now() - began, ok=False, detail=end.message)
            raise
        self.record.step(name, began, self.now() - began)
        return out

    async def wait_for(
        self,
        name: str,
        probe: Callable[[], Awaitable[tuple[T | None, str]]],
        *,
        within: float | None = None,
    ) -> T:
        """Poll `probe` (→ (result or None, what was seen)) until it gives a result; the run's deadline (or
        `within` seconds, if sooner) bounds it, and a timeout names this step."""
        began = self.now()
        limit = self.deadline if within is None else min(self.deadline, self.clock() + within)
        last = ""
        while True:
            try:
                result, last = await probe()
            except KubeApiError as exc:
                if is_rbac_denial(exc):
                    self.record.step(name, began, self.now() - began, ok=False, detail=str(exc))
                    raise not_permitted(exc, name) from None
                result, last = None, str(exc)
            if result is not None:
                self.record.step(name, began, self.now() - began, detail=shown(result))
                return result
            if self.clock() >= limit:
                self.record.step(name, began, self.now() - began, ok=False, detail=last)
                raise StepTimedOut(name, self.now() - began, last)
            await asyncio.sleep(POLL)

    async def hold(self, name: str, seconds: float, check: Callable[[], Awaitable[str | None]]) -> None:
        """For `seconds`, `check` must keep answering None (nothing wrong); else the run fails with its answer."""
        began = self.now()
        until = self.clock() + seconds
        while self.clock() < until:
            problem = await check()
            if problem:
                self.record.step(name, began, self.now() - began, ok=False, detail=problem)
                raise ProbeEnded("failed", problem)
            await asyncio.sleep(POLL)
        self.record.step(name, began, self.now() - began, detail=f"held for {seconds:.0f}s")

    # --- objects --------------------------------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        return probe_labels(self.record.probe, self.run_id)

    async def create_namespace(self, *, restricted: bool = True, quota: Mapping[str, str] | None = None) -> str:
        name = namespace_name(self.prefix, self.record.probe, self.run_id)
        labels = self.labels()
        if restricted:
            labels |= {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            }
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        await self.create("/api/v1/namespaces", ns, f"create Namespace {name}")
        self.namespace = self.record.namespace = name
        if quota:
            rq = {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "probe", "namespace": name, "labels": self.labels()},
                "spec": {"hard": dict(quota)},
            }
            await self.create(
                f"/api/v1/namespaces/{name}/resourcequotas", rq, f"create ResourceQuota {name}/probe", owned=False
            )
        return name

    async def create(self, collection: str, body: Mapping[str, Any], name: str, *, owned: bool = True) -> Any:
        """POST an object (a taken name fails: nothing of anyone else is overwritten) and remember it for removal.
        `owned=False`: inside the sandbox namespace, removed with it."""
        meta = body["metadata"]
        ident = f"{body['kind']} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta['name']}"
        out = await self.step(name, self._post(collection, body, name), what=f"create {ident}")
        self.record.objects.append(ident)
        if owned:
            self.made.append((f"{collection}/{meta['name']}", ident))
        return out

    async def _post(self, collection: str, body: Mapping[str, Any], step: str) -> Any:
        """POST, retried while quota admission has not seen the new quota's computed status yet (it answers 403
        "status unknown for quota" for a moment; for object counts of a custom resource installed less than the
        quota controller's discovery period (30 s) before the quota was made, until that quota is next recounted,
        minutes). Still unknown at the run's deadline, the step timed out: the cluster did not let the probe make
        its object in time (not a refusal)."""
        began = self.clock()
        while True:
            try:
                return await self.kube.request("POST", collection, body=body)
            except KubeApiError as exc:
                if exc.status != 403 or "status unknown for quota" not in str(exc):
                    raise
                if self.clock() >= self.deadline:
                    last = f"{exc} (the quota controller has not counted this kind yet)"
                    raise StepTimedOut(step, self.clock() - began, last) from None
            await asyncio.sleep(POLL)

    async def dry_run(self, collection: str, body: Mapping[str, Any], *, strict: bool = False) -> KubeApiError | None:
        """A server-side dry-run create: None when the API server would admit it, else its refusal. `strict`: an
        unknown or duplicate field is refused too (fieldValidation=Strict), not dropped with a warning."""
        params = {"dryRun": "All"} | ({"fieldValidation": "Strict"} if strict else {})
        try:
            await self.kube.request("POST", collection, body=body, params=params)
        except KubeApiError as exc:
            return exc
        return None

    async def cleanup(self) -> None:
        """Remove everything this run made, newest first (the namespace takes what is inside it)."""
        began = self.now()
        done: list[str] = []
        for path, ident in reversed(self.made):
            try:
                async with asyncio.timeout(CLEANUP_TIMEOUT):
                    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
                    await self.kube.request("DELETE", path, body=body, ok_missing=True)
                done.append(f"deleted {ident}")
            except (KubeApiError, OSError, TimeoutError) as exc:
                done.append(f"could not delete {ident}: {exc} (removed by the next run)")
        self.made.clear()
        if done:
            self.record.cleanup.append(f"{'; '.join(done)} ({self.now() - began:.1f}s)")


# --- before a run: leftovers and the prefix -----------------------------------------------------------------------


async def prepare(kube: KubeClient, record: Record, *, prefix: str, tenants: set[str], grace: float) -> None:
    """Refuse a prefix that selects a namespace not the probes' own; remove leftovers of this probe's earlier
    runs (namespaces and cluster-scoped objects labelled with its name), never a namespace holding objects that
    are not a probe's."""
    try:
        namespaces = await kube.list("/api/v1/namespaces")
    except KubeApiError as exc:
        if exc.status == 403:
            raise not_permitted(exc, "list namespaces") from None
        raise
    problem = prefix_problem(prefix, namespaces, tenants)
    if problem:
        raise ProbeEnded("namespace_refused", problem)
    mine = [
        ns for ns in namespaces if (ns.get("metadata", {}).get("labels") or {}).get(LABEL_PROBE) == dashed(record.probe)
    ]
    removed = []
    for ns in leftovers(mine, utc_now(), grace):
        name = ns["metadata"]["name"]
        content = []
        for path in CONTENT_PATHS:
            content += await kube.list(path.format(ns=name))
        foreign = foreign_objects(content)
        if foreign:
            raise ProbeEnded(
                "namespace_refused",
                f"probe namespace {name} holds objects no probe made ({', '.join(foreign[:5])}); it is left alone "
                "and no probe runs until it is emptied or removed",
            )
        await kube.request("DELETE", f"/api/v1/namespaces/{name}", ok_missing=True)
        removed.append(f"Namespace {name}")
    if removed:
        record.cleanup.append("removed leftovers of an earlier run: " + ", ".join(removed))


async def remove_leftover_cluster_objects(
    kube: KubeClient, record: Record, collections: list[str], grace: float
) -> None:
    """Cluster-scoped objects of this probe's earlier runs (Kueue queues and flavors), labelled with its name."""
    selector = f"{LABEL_PROBE}={dashed(record.probe)}"
    removed = []
    for collection in collections:
        objs = await kube.list(f"{collection}?labelSelector={selector}")
        for obj in leftovers(objs, utc_now(), grace):
            await kube.request("DELETE", f"{collection}/{obj['metadata']['name']}", ok_missing=True)
            removed.append(f"{obj.get('kind', 'object')} {obj['metadata']['name']}")
    if removed:
        record.cleanup.append("removed leftovers of an earlier run: " + ", ".join(removed))
