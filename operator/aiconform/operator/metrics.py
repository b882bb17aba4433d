"""Prometheus metrics on our own registry (no process/GC collectors from the global one, no name clashes)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILE_DURATION = Histogram(
    "aiconform_reconcile_duration_seconds",
    "Time one reconcile of a ConformanceProfile took.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
# Operational failures (cluster unreachable, unexpected exceptions), not invalid specs: those show as
# aiconform_profile_ready == 0 and a Ready=False condition.
RECONCILE_ERRORS = Counter(
    "aiconform_reconcile_errors",
    "Reconciles that failed for an operational reason (API unreachable, internal error).",
    registry=REGISTRY,
)
# Which passes ran: "full" (everything redone), "partial" (only what reads what changed), "skipped" (a change
# no part of the profile reads: no pass at all). operator/incremental.py.
PASSES = Counter(
    "aiconform_passes",
    "Evaluation passes by scope: full, partial or skipped.",
    ["scope"],
    registry=REGISTRY,
)
CHECKS_RUN = Counter(
    "aiconform_checks_run",
    "Conformance checks run (a partial pass runs only those whose sources changed).",
    registry=REGISTRY,
)
PROFILE_READY = Gauge(
    "aiconform_profile_ready",
    "1 when the profile's Ready condition is True, else 0.",
    ["profile"],
    registry=REGISTRY,
)
LAST_EVALUATION = Gauge(
    "aiconform_last_evaluation_timestamp_seconds",
    "Unix time of the profile's last completed pass (checks evaluated, status decided).",
    ["profile"],
    registry=REGISTRY,
)
REQUIREMENT_STATUS = Gauge(
    "aiconform_requirement_status",
    "Per requirement of the evaluated checklist: 1 implemented, 0 not implemented, -1 unknown/not checked.",
    ["profile", "requirement", "level"],
    registry=REGISTRY,
)

DRIFT_REPAIRS = Counter(
    "aiconform_drift_repairs",
    "Managed objects put back after someone edited or deleted them, by kind.",
    ["kind"],
    registry=REGISTRY,
)
FAST_REPAIRS = Counter(
    "aiconform_fast_repairs",
    "Deleted managed objects re-created at once from the last pass's manifests (before any full pass), by kind.",
    ["kind"],
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "aiconform_gc_pause_seconds",
    "Time each cyclic garbage collection took (the process stands still meanwhile), by generation.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
MANAGED_OBJECTS = Gauge(
    "aiconform_managed_objects",
    "Objects aiconform manages, by profile and kind.",
    ["profile", "kind"],
    registry=REGISTRY,
)
_managed_kinds: dict[str, set[str]] = {}


def set_managed(profile: str, objects: Mapping[tuple[str, str, str, str], object]) -> None:
    """Publish per-kind counts of `objects` (keyed by (apiVersion, kind, namespace, name)) for `profile`."""
    counts: dict[str, int] = {}
    for _, kind, _, _ in objects:
        counts[kind] = counts.get(kind, 0) + 1
    with _lock:
        for kind in _managed_kinds.get(profile, set()) - set(counts):
            with contextlib.suppress(KeyError):
                MANAGED_OBJECTS.remove(profile, kind)
        for kind, n in counts.items():
            MANAGED_OBJECTS.labels(profile, kind).set(n)
        _managed_kinds[profile] = set(counts)


# Which (requirement, level) series each profile has, so a checklist switch drops the stale ones.
_series: dict[str, set[tuple[str, str]]] = {}
_lock = threading.Lock()


def set_requirements(profile: str, values: Mapping[tuple[str, str], float]) -> None:
    """Publish exactly `values` ((requirement, level) → value) for `profile`."""
    with _lock:
        for requirement, level in _series.get(profile, set()) - set(values):
            with contextlib.suppress(KeyError):
                REQUIREMENT_STATUS.remove(profile, requirement, level)
        for (requirement, level), value in values.items():
            REQUIREMENT_STATUS.labels(profile, requirement, level).set(value)
        _series[profile] = set(values)


def forget_profile(profile: str) -> None:
    """Drop every series of a deleted profile (a gauge left behind would keep alerting)."""
    set_requirements(profile, {})
    set_managed(profile, {})
    with _lock, contextlib.suppress(KeyError):  # older prometheus_client raise on unknown labels
        _series.pop(profile, None)
        PROFILE_READY.remove(profile)
    with contextlib.suppress(KeyError):
        LAST_EVALUATION.remove(profile)


def start_server(address: str, port: int) -> None:
    """Serve /metrics from REGISTRY in a daemon thread; OSError (e.g. port in use) propagates."""
    start_http_server(port, addr=address, registry=REGISTRY)
