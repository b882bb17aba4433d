"""Keep the cyclic garbage collector's pauses short, and measure them.

The view of the cluster is large and long-lived: about a million tracked containers at 1,000 namespaces. A full
(generation 2) collection walks every one of them while it holds the GIL, 0.4 s per 470,000 objects on a 2-core
machine, and every pass renders thousands of new objects, which sets one off every few passes. A drift repair
that arrives meanwhile waits for it.

`settle()`, called after the initial listing and after each pass, moves everything alive into the permanent
generation (`gc.freeze`), so later collections walk only what is newer. This is safe for the view: it is plain
decoded JSON, without reference cycles, and reference counting still frees an object that is replaced. Cyclic
garbage among frozen objects (asyncio and kopf internals) would wait forever, so once every `FULL_EVERY_S`
`settle()` unfreezes and runs one full collection: one long pause at a known rate instead of many at random.

Freezing has a cost of its own: CPython decides on a full collection by comparing what survived recently with
what its last full collection kept, and after a freeze that is only what is new. A pass's pure work (render,
decide, checks) builds hundreds of thousands of short-lived, acyclic containers at 5,000 namespaces, so it set
off full collections over that transient heap, 0.1-0.9 s each. `uninterrupted()` runs such work with automatic
collection off; reference counting frees it, and what is left is collected, then frozen, after the pass.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from aiconform.operator import metrics

P = ParamSpec("P")
R = TypeVar("R")

FULL_EVERY_S = 900.0  # one full collection every 15 minutes


class Collector:
    """The policy above for one operator (kept by `evaluator.Operator`, so a restart starts afresh; nothing at
    module level). The collector itself is process-wide: `uninterrupted` counts the pure work in flight across
    threads, and turns automatic collection back on when the last one ends."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, full_every: float = FULL_EVERY_S) -> None:
        self.clock = clock
        self.full_every = full_every
        self.last_full = clock()
        self._started: list[float] = []
        self._lock = threading.Lock()
        self._running = 0  # pure work in flight (a pass per profile, each in its own thread)
        self._was_enabled = True

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks hook: the duration of every collection, by generation."""
        if phase == "start":
            self._started.append(time.perf_counter())
        elif self._started:
            metrics.GC_PAUSE.labels(str(info.get("generation", ""))).observe(time.perf_counter() - self._started.pop())

    def install(self) -> None:
        """Measure collections (idempotent)."""
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)

    def uninstall(self) -> None:
        """Stop measuring (the operator stops; a new one installs its own)."""
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def settle(self, now: float | None = None) -> bool:
        """After a burst of long-lived allocations. Returns whether it ran the periodic full collection."""
        now = self.clock() if now is None else now
        full = now - self.last_full >= self.full_every
        if full:
            self.last_full = now
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        return full

    def uninterrupted(self, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`work(*args, **kwargs)` with automatic collection off (process-wide) until the last such call in
        flight returns; it stays off if something else had turned it off."""
        with self._lock:
            if self._running == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            return work(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._was_enabled:
                    gc.enable()
