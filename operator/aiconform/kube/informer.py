"""The operator's own list+watch of every kind the checks read (an informer, in client-go's words), feeding the
ClusterView. kopf keeps only the ConformanceProfiles.

Why not kopf's watches: kopf runs its handler machinery (a worker task, per-object memories, a diff base) for
every event of every watched object. At 1,000 namespaces our own creates come back as ~14,000 events and that
machinery was 40% of the operator's CPU and a third of its memory. Here an event costs a JSON decode, a trim
and a dict store.

Each resource is LISTed (pages of PAGE, one consistent resourceVersion), then watched from that version with
bookmarks; a watch the server ends is resumed from the last version seen, and only an expired version (410)
or a failure re-lists. "Listed" is therefore exact: the first LIST of every started resource has landed in the
view, which is what the first pass waits for (a pass on a half-filled view would prune what it cannot see).
No LIST polling: a healthy watch is never re-listed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiconform.api.constants import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError
from aiconform.kube.snapshot import Obj
from aiconform.kube.sources import (
    Watched,
    fixed_paths,
    forbidden,
    preferred_version,
    stack_paths,
    version_priority,
    with_kind,
)
from aiconform.kube.view import ClusterView, ident_of

__all__ = [
    "Gone",
    "Informers",
    "Source",
    "backoff",
    "builtin_sources",
    "custom_sources",
    "preferred_version",
    "version_priority",
    "with_kind",
]

WATCH_TIMEOUT = 300  # seconds the server keeps a watch open before we resume it
READ_TIMEOUT = WATCH_TIMEOUT + 30.0  # no byte at all for this long (bookmarks come every minute): dead connection
# LIST pages are decoded whole: 500 ResourceSlices are 33 MB of JSON and several times that decoded, and the
# process keeps its high-water mark. Small pages, two listings at a time: 91 → 257 MB at the first listing at
# 1,000 namespaces before this, for a view of ~60 MB.
PAGE = "100"
CONCURRENT_LISTS = 2
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before retrying a failed list or watch, capped at the last
PROGRESS_EVERY = 10.0  # seconds between "still waiting for the listing" log lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where one watched resource is listed from."""

    watched: Watched
    path: str  # collection path
    label_selector: str | None = None

    @property
    def managed_only(self) -> bool:
        return self.watched.mode == "ours"

    def params(self, **extra: str) -> dict[str, str]:
        """Query parameters of a LIST or watch of this source."""
        selector = {"labelSelector": self.label_selector} if self.label_selector else {}
        return {**extra, **selector}


def _selector(watched: Watched) -> str | None:
    # Kinds the checks do not read: only ours (the server filters, so a cluster's ConfigMaps never reach us).
    return f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}" if watched.mode == "ours" else None


def _sources(watched: Iterable[Watched], paths: Mapping[str, str]) -> dict[str, Source]:
    return {w.key: Source(w, paths[w.key], _selector(w)) for w in watched if w.key in paths}


def builtin_sources(watched: Iterable[Watched], api_resources: frozenset[str]) -> dict[str, Source]:
    """Sources of resources with a fixed version, for those the server serves."""
    table = tuple(watched)
    return _sources(table, fixed_paths(table, api_resources))


def custom_sources(watched: Iterable[Watched], crds: Iterable[Obj]) -> dict[str, Source]:
    """Sources of optional stacks' resources whose CRD is Established, at the preferred version."""
    table = tuple(watched)
    return _sources(table, stack_paths(table, crds))


def backoff(failures: int) -> float:
    return BACKOFF[min(failures, len(BACKOFF) - 1)]


class Gone(Exception):
    """The resourceVersion we resumed from is too old (HTTP 410 or a watch ERROR event): list again."""


@dataclass
class _Running:
    source: Source
    task: asyncio.Task[None]
    listed: asyncio.Event


class Informers:
    """The running list+watch loops, one per source; `sync` starts and stops them to match a wanted set."""

    def __init__(
        self,
        view: ClusterView,
        client: Callable[[], KubeClient],
        on_change: Callable[[Watched], None] | None = None,
    ) -> None:
        self._view, self._client_factory, self._on_change = view, client, on_change
        self._kube: KubeClient | None = None
        self._running: dict[str, _Running] = {}
        self._lists = asyncio.Semaphore(CONCURRENT_LISTS)

    def _client(self) -> KubeClient:
        if self._kube is None:
            self._kube = self._client_factory()
        return self._kube

    def sync(self, wanted: Mapping[str, Source], *, only: Iterable[str] | None = None) -> None:
        """Start loops for new or changed sources; stop those no longer wanted (their objects leave the view).
        `only`: the keys this call is about (others are left as they are)."""
        scope = set(only) if only is not None else set(self._running) | set(wanted)
        for key in sorted(scope):
            running, source = self._running.get(key), wanted.get(key)
            if running is not None and running.source == source:
                continue
            if running is not None:
                running.task.cancel()
                del self._running[key]
                self._view.drop(key)
                log.info("Stopped watching %s", key)
            if source is not None:
                listed = asyncio.Event()
                task = asyncio.create_task(self._run(source, listed), name=f"informer {key}")
                self._running[key] = _Running(source, task, listed)

    @property
    def listed(self) -> bool:
        return all(r.listed.is_set() for r in self._running.values())

    def pending(self) -> list[str]:
        return sorted(k for k, r in self._running.items() if not r.listed.is_set())

    def keys(self) -> list[str]:
        return sorted(self._running)

    async def wait_listed(self) -> None:
        """Until the first LIST of every running source is in the view (sources started meanwhile included)."""
        started = time.monotonic()
        while not self.listed:
            waiting = [asyncio.create_task(r.listed.wait()) for r in self._running.values() if not r.listed.is_set()]
            done, rest = await asyncio.wait(waiting, timeout=PROGRESS_EVERY)
            for task in rest:
                task.cancel()
            if not done:
                pending = self.pending()
                log.info(
                    "Waiting %.0f s for the first listing of %s", time.monotonic() - started, ", ".join(pending[:6])
                )

    async def close(self) -> None:
        tasks = [r.task for r in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        if self._kube is not None:
            await self._kube.close()
            self._kube = None

    # --- one resource ---------------------------------------------------------------------------------------

    async def _run(self, source: Source, listed: asyncio.Event) -> None:
        key = source.watched.key
        version: str | None = None
        failures = 0
        while True:
            try:
                if version is None:
                    async with self._lists:
                        version = await self._list(source)
                    listed.set()
                    failures = 0
                started = time.monotonic()
                version, events = await self._watch(source, version)
                # A watch the server ends at once, again and again, must not become a busy loop.
                failures = 0 if events or time.monotonic() - started > 1.0 else failures + 1
                if failures:
                    await asyncio.sleep(backoff(failures))
            except asyncio.CancelledError:
                raise
            except Gone:
                # After a long stall (a paused process, a partition) the server has compacted the version the watch
                # would resume from: the whole resource is listed again. Said, because at scale it is not free.
                log.info("Listing %s again: the watch's resourceVersion is too old (410 Gone)", key)
                version = None
            except KubeApiError as exc:
                if exc.status == 410:  # a LIST's continue token expired
                    version = None
                    continue
                if exc.status == 401:
                    await self._reconnect()
                if exc.status == 403:  # retried below (RBAC may be fixed), but never silently empty meanwhile
                    self._view.set_unreadable(key, forbidden(source.watched, str(exc)))
                if exc.status in (403, 404) and not listed.is_set():
                    # Not allowed, or gone since we chose it: nothing to wait for; keep trying in the background.
                    listed.set()
                log.warning("Watching %s failed (%s); retrying in %.1f s", key, exc, backoff(failures))
                await asyncio.sleep(backoff(failures))
                failures += 1
                version = None
            except (KubeTransportError, ValueError) as exc:
                log.warning("Watching %s failed (%s); retrying in %.1f s", key, exc, backoff(failures))
                await asyncio.sleep(backoff(failures))
                failures += 1
                # Resume from where we were: after an API-server restart the watch cache still knows it.

    async def _reconnect(self) -> None:
        """Credentials may have rotated (kopf logs in again on 401): a new client takes the current ones."""
        old, self._kube = self._kube, None
        if old is not None:
            await old.close()

    async def _list(self, source: Source) -> str:
        """One consistent listing into the view, a page at a time (trimmed as it comes: the untrimmed whole
        would be hundreds of MB at scale); returns its resourceVersion."""
        params = source.params(limit=PAGE)
        key = source.watched.key
        seen: set[tuple[str, str]] = set()
        while True:
            page = await self._client().request("GET", source.path, params=params)
            assert page is not None
            for item in with_kind(page.pop("items", None) or [], str(page.get("kind")), str(page.get("apiVersion"))):
                seen.add(ident_of(item))
                self._view.apply_event(key, "ADDED", item, managed_only=source.managed_only)
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                break
            params = {**params, "continue": str(meta["continue"])}
        self._view.retain(key, seen)
        self._view.set_unreadable(key, None)
        self._changed(source)
        return str(meta.get("resourceVersion") or "")

    async def _watch(self, source: Source, version: str) -> tuple[str, int]:
        """Events into the view until the server ends the watch: (the version to resume from, events seen)."""
        params = source.params(resourceVersion=version, allowWatchBookmarks="true", timeoutSeconds=str(WATCH_TIMEOUT))
        events = 0
        try:
            async for event in self._client().watch(source.path, params, read_timeout=READ_TIMEOUT):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise KubeApiError(int(obj.get("code") or 500), str(obj.get("message") or obj))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                events += 1
                if kind == "BOOKMARK":
                    continue
                self._view.apply_event(source.watched.key, kind, obj, managed_only=source.managed_only)
                self._changed(source)
        except KubeApiError as exc:
            if exc.status == 410:
                raise Gone() from None
            raise
        return version, events

    def _changed(self, source: Source) -> None:
        if self._on_change is not None:
            self._on_change(source.watched)
