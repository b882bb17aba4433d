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
"""

from __future__ import annotations

import gc
import time
from typing import Any

from aiconform import metrics

FULL_EVERY_S = 900.0  # one full collection every 15 minutes

_started: list[float] = []
_last_full = time.monotonic()


def _observe(phase: str, info: dict[str, Any]) -> None:
    """gc.callbacks hook: the duration of every collection, by generation."""
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        metrics.GC_PAUSE.labels(str(info.get("generation", ""))).observe(time.perf_counter() - _started.pop())


def install() -> None:
    """Measure collections (idempotent)."""
    if _observe not in gc.callbacks:
        gc.callbacks.append(_observe)


def settle(now: float | None = None) -> bool:
    """After a burst of long-lived allocations. Returns whether it ran the periodic full collection."""
    global _last_full
    now = time.monotonic() if now is None else now
    full = now - _last_full >= FULL_EVERY_S
    if full:
        _last_full = now
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    return full
