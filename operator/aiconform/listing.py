"""Before the first pass: wait until every watch has delivered every object that existed when we looked.

A pass on a half-filled view would prune what it cannot see yet (the ScaledObject of a Deployment not listed
yet). kopf's own gate for this, index handlers, costs O(n^2) in kopf (one readiness toggle per object, each
waking every waiter): at 10,000 watched objects the operator had not started its first pass after 4 minutes.
So we count instead: one LIST with `limit=1` per watched resource says how many objects exist (items plus
`remainingItemCount`), and the gate opens once each watch has shown at least that many distinct objects. An
object deleted before the watch listed it would keep the gate shut, so counts still unmet are taken again every
RECOUNT_EVERY seconds while waiting. These LISTs happen once per start, never in steady state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from aiconform.clusterview import ALL, ClusterView, Watched
from aiconform.constants import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from aiconform.kubeclient import KubeApiError, KubeClient, KubeTransportError

RECOUNT_EVERY = 20.0  # seconds
PROGRESS_EVERY = 10.0  # seconds between "still waiting" log lines


class Logger(Protocol):
    def info(self, msg: str, *args: object) -> None: ...
    def warning(self, msg: str, *args: object) -> None: ...


def collection_path(watched: Watched, api_resources: frozenset[str]) -> str | None:
    """The LIST path of a watched resource, or None when the server does not serve it (nothing to wait for).
    Kinds kept only when ours are counted with the same label the view filters on."""
    if watched.version:
        gv = f"{watched.group}/{watched.version}" if watched.group else watched.version
        if f"{gv}/{watched.plural}" not in api_resources:
            return None
    else:  # kopf watches the preferred version; any served version has the same objects
        prefix, suffix = f"{watched.group}/", f"/{watched.plural}"
        served = sorted(r for r in api_resources if r.startswith(prefix) and r.endswith(suffix) and r.count("/") == 2)
        if not served:
            return None
        gv = served[0].rsplit("/", 1)[0]
    path = f"/api/{gv}/{watched.plural}" if "/" not in gv else f"/apis/{gv}/{watched.plural}"
    if watched.field == "managed":
        path += f"?labelSelector={LABEL_MANAGED_BY}%3D{MANAGED_BY_VALUE}"
    return path


def unmet(expected: Mapping[str, int], shown: Callable[[str], int]) -> dict[str, tuple[int, int]]:
    """Watched keys whose watch has shown fewer objects than were counted: key → (shown, expected)."""
    return {key: (shown(key), n) for key, n in sorted(expected.items()) if shown(key) < n}


def describe(pending: Mapping[str, tuple[int, int]], limit: int = 6) -> str:
    parts = [f"{key} {have}/{want}" for key, (have, want) in list(pending.items())[:limit]]
    more = len(pending) - limit
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


async def count(kube: KubeClient, path: str) -> int:
    """How many objects a collection holds, from one page of one item."""
    page = await kube.request("GET", path, params={"limit": "1"}, ok_missing=True)
    if page is None:
        return 0
    remaining = (page.get("metadata") or {}).get("remainingItemCount") or 0
    return len(page.get("items") or []) + int(remaining)


async def counts(kube: KubeClient, paths: Mapping[str, str], logger: Logger) -> dict[str, int]:
    async def one(key: str, path: str) -> tuple[str, int]:
        try:
            return key, await count(kube, path)
        except KubeApiError as exc:
            # Not allowed to list it: kopf cannot watch it either, so there is nothing to wait for.
            logger.warning("Cannot count %s (%s); not waiting for its listing", key, exc)
            return key, 0

    return dict(await asyncio.gather(*(one(k, p) for k, p in paths.items())))


async def wait_listed(
    view: ClusterView, client: Callable[[], KubeClient], logger: Logger, watched: Iterable[Watched] = ALL
) -> None:
    """Return once every watch has shown at least as many objects as a count taken while waiting."""
    paths = {w.key: p for w in watched if (p := collection_path(w, view.api_resources)) is not None}
    started = last_log = time.monotonic()
    expected: dict[str, int] = {}
    recount_at = 0.0
    while True:
        now = time.monotonic()
        if now >= recount_at:
            todo = {k: p for k, p in paths.items() if k not in expected or view.shown(k) < expected[k]}
            try:
                async with client() as kube:
                    expected.update(await counts(kube, todo, logger))
            except KubeTransportError as exc:
                logger.warning("Counting watched objects failed, retrying: %s", exc)
            recount_at = now + RECOUNT_EVERY
        pending = unmet(expected, view.shown) if expected.keys() >= paths.keys() else {"(counting)": (0, 1)}
        if not pending:
            logger.info("Initial listing complete: %d resources in %.1f s", len(paths), time.monotonic() - started)
            view.listing_complete()
            return
        if now - last_log >= PROGRESS_EVERY:
            logger.info("Waiting for the initial listing before the first pass: %s", describe(pending))
            last_log = now
        await view.wait_changed(view.generation, timeout=1.0)
