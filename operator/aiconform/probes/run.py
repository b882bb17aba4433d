"""Running probes: one at a time, each bounded by its timeout, each cleaned up whatever happens."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import tenant_namespaces
from aiconform.conformance.verdict import Verdict
from aiconform.kube.client import KubeApiError, KubeClient
from aiconform.kube.snapshot import Snapshot
from aiconform.probes import autoscaling, dra, gang, inference, robust, secure
from aiconform.probes.record import Record, utc_now, verdict_of
from aiconform.probes.sandbox import ProbeEnded, Sandbox, prepare

ProbeBody = Callable[[Sandbox, ProfileSpec, Snapshot], Awaitable[None]]
PROBES: Mapping[str, ProbeBody] = MappingProxyType(
    {
        gang.REQUIREMENT: gang.run,
        dra.REQUIREMENT: dra.run,
        secure.REQUIREMENT: secure.run,
        inference.REQUIREMENT: inference.run,
        robust.REQUIREMENT: robust.run,
        autoscaling.REQUIREMENT: autoscaling.run,
    }
)


async def run_probe(
    kube: KubeClient,
    probe: str,
    spec: ProfileSpec,
    snapshot: Snapshot,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Run one probe and return its verdict, the transcript attached. Never raises for what the cluster answers:
    a 403 is ProbeNotPermitted, a step that does not happen in time ProbeTimedOut, an API error ProbeCannotRun."""
    settings = spec.probes
    record = Record(probe=probe, started=utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    box = Sandbox(kube, record, prefix=settings.namespace_prefix, timeout=float(settings.timeout_seconds), clock=clock)
    try:
        async with box:
            await prepare(
                kube,
                record,
                prefix=settings.namespace_prefix,
                tenants=tenant_namespaces(snapshot, spec),
                grace=2.0 * settings.timeout_seconds,
            )
            await PROBES[probe](box, spec, snapshot)
            if record.outcome == "cannot_run" and not record.message:
                record.message = "the probe ended without a verdict"
    except ProbeEnded as end:
        record.outcome = end.outcome  # type: ignore[assignment]
        record.message = f"probe {probe}: {end.message}"
    except (KubeApiError, OSError) as exc:
        record.outcome = "cannot_run"
        record.message = f"probe {probe} could not run: {exc}"
    record.duration = box.now()
    return verdict_of(record, with_transcript=True)


async def run_probes(
    kube: KubeClient, spec: ProfileSpec, snapshot: Snapshot, names: Iterable[str] | None = None
) -> list[Verdict]:
    """The named probes (default: spec.probes.run), one after the other."""
    chosen = list(spec.probes.run if names is None else names)
    return [await run_probe(kube, name, spec, snapshot) for name in chosen if name in PROBES]
