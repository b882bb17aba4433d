"""`aiconform status NAME`: a live profile's `status.requirements` as `aiconform check`'s table.

The operator already evaluated the cluster (and merged its probes' verdicts); this reads what it wrote instead of
evaluating again, so what the table shows is what `kubectl get cprof` summarises. `--wait` polls until the status
is current for the spec's generation and shows every probe the spec runs: what a demo or a CI job wants to
print once the operator has caught up.

The decisions (is the status ready, which probes it does not show yet, the tallies) are pure functions of the
profile object; `run_status` only polls the API server and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aiconform.api.constants import API_VERSION, PLURAL
from aiconform.api.models import ConformanceProfile, ProfileStatus, RequirementResult, validate_profile
from aiconform.checker.commands import credentials, exit_code, use_colour
from aiconform.checker.report import EvaluationView, counts_as_failure, is_met, rows
from aiconform.checker.report.table import render_table
from aiconform.conformance.catalog import requirements_for
from aiconform.conformance.evidence import OBSERVED
from aiconform.conformance.verdict import PROBE_FAILED, PROBE_INCONCLUSIVE
from aiconform.errors import CliError
from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError
from aiconform.kube.kubeconfig import LoginError

__all__ = [
    "CONDITION_PROBES",
    "PROBE_NOTE",
    "StatusEvaluation",
    "StatusVerdict",
    "evaluation_from_status",
    "explain",
    "parse_profile",
    "pending",
    "probes_expected",
    "probes_line",
    "run_status",
    "shows_probe",
]

# conformance/probemerge appends this before a probe's message when the probe leaves the check's verdict standing
# (it could not decide, or it saw no more than the check): the status still shows that the probe ran.
PROBE_NOTE = "; probe: "
# The condition the operator writes, in the same status as the merged verdicts, once a probe run is in
# (operator/status.CONDITION_PROBES: the checker may not import the operator).
CONDITION_PROBES = "Probes"
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 15.0  # a progress line at least this often while the wait goes on
TABLE_WIDTH = 160  # when not on a terminal


@dataclass(frozen=True)
class StatusVerdict:
    """One entry of status.requirements, as the report renderers read a verdict (report.VerdictView)."""

    requirement: str
    status: str
    reason: str
    message: str
    evidence: tuple[str, ...]
    declared: bool
    tier: str


@dataclass(frozen=True)
class StatusEvaluation:
    """status.requirements and status.summary, as the report renderers read an evaluation (report.EvaluationView)."""

    version: str
    verdicts: tuple[StatusVerdict, ...]
    must_met: int
    must_total: int
    should_met: int
    should_total: int
    conformant: bool


def parse_profile(obj: Mapping[str, Any]) -> tuple[ConformanceProfile, ProfileStatus]:
    """The live object's spec and status through the models; a CliError saying what is wrong otherwise."""
    name = str(obj.get("metadata", {}).get("name", "?"))
    body = {k: v for k, v in obj.items() if k in ("apiVersion", "kind", "metadata", "spec", "status")}
    try:
        profile = validate_profile(body)
        status = ProfileStatus.model_validate(profile.status or {})
    except ValidationError as exc:
        raise CliError(f"ConformanceProfile {name} cannot be read: {exc.errors()[0]['msg']}") from None
    return profile, status


def probes_expected(profile: ConformanceProfile) -> list[str]:
    """The probes the operator runs for this profile: spec.probes.run, only in Enforce mode (a probe writes)."""
    return list(profile.spec.probes.run) if profile.spec.mode == "Enforce" else []


def shows_probe(row: RequirementResult) -> bool:
    """Whether a requirement's verdict carries a probe's result (conformance/probemerge): the probe's own verdict
    (tier Observed, or a probe failure), or the check's with the probe's message appended."""
    return (
        row.tier == OBSERVED
        or row.reason == PROBE_FAILED
        or row.reason in PROBE_INCONCLUSIVE
        or (PROBE_NOTE in row.message)
    )


def pending(profile: ConformanceProfile, status: ProfileStatus) -> list[str]:
    """What the status does not show yet, in words; empty when it is ready to print.

    Ready: evaluated for the spec's current generation, and every probe the spec runs merged into its
    requirement's verdict: the `Probes` condition for this generation says a run is in (the only sign where a
    probe's success left a faulty check's verdict standing), else each requirement's verdict shows its probe. A
    probe of a requirement the evaluated checklist lacks is never merged: not waited for. (After a spec edit the
    last run's verdicts stay merged until the next run: the status cannot tell which spec a run was for.)"""
    generation = profile.metadata.get("generation")
    if status.observed_generation is None or (generation is not None and status.observed_generation != generation):
        return [f"an evaluation of generation {generation}"]
    if not status.requirements:
        return ["the first evaluation"]
    if any(c.type == CONDITION_PROBES and c.observed_generation == generation for c in status.conditions):
        return []
    by_id = {r.id: r for r in status.requirements}
    return [f"probe {p}" for p in probes_expected(profile) if p in by_id and not shows_probe(by_id[p])]


def probes_line(status: ProfileStatus) -> str | None:
    """The operator's `Probes` condition as one line under the table: how many probes ran and decided, or which
    were refused their namespace or permissions (a refused probe changes no verdict: only this says it)."""
    cond = next((c for c in status.conditions if c.type == CONDITION_PROBES), None)
    return None if cond is None else f"Probes: {cond.status} ({cond.reason}): {cond.message}"


def _tally(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    return (int(match[1]), int(match[2])) if match else None


def evaluation_from_status(status: ProfileStatus) -> StatusEvaluation | None:
    """The evaluation the operator wrote, or None when it has written none yet. The tallies and Conformant are
    the summary's (what `kubectl get cprof` shows), counted from the verdicts where the summary lacks them."""
    version = status.kubernetes_version or (status.summary.kubernetes_version if status.summary else "")
    if not version or not status.requirements:
        return None
    verdicts = tuple(
        StatusVerdict(
            requirement=r.id,
            status=r.status,
            reason=r.reason,
            message=r.message,
            evidence=tuple(r.evidence),
            declared=r.declared,
            tier=r.tier or "",
        )
        for r in status.requirements
    )
    levels = {req.id: req.level for req in requirements_for(version)}

    def counted(level: str) -> tuple[int, int]:
        mine = [v for v in verdicts if levels.get(v.requirement) == level]
        return sum(is_met(v) for v in mine), len(mine)

    summary = status.summary
    must = (_tally(summary.must_met) if summary else None) or counted("MUST")
    should = (_tally(summary.should_met) if summary else None) or counted("SHOULD")
    conformant = summary.conformant == "True" if summary else must[0] == must[1]
    return StatusEvaluation(version, verdicts, must[0], must[1], should[0], should[1], conformant)


def explain(evaluation: EvaluationView, fail_on: str, width: int) -> str:
    """`--explain`: the whole message of every requirement that fails the run under --fail-on, wrapped, where the
    table cuts it to one line: what is missing and how to fix it. Empty when nothing fails."""
    failing = [(req, v) for req, v in rows(evaluation) if counts_as_failure(req, v, fail_on)]
    if not failing:
        return ""
    out = [f"Not met ({'MUST' if fail_on == 'must' else 'MUST and SHOULD'}), in full:"]
    for req, v in failing:
        text = f"{req.id} ({v.status}, {v.reason}): {' '.join(v.message.split())}"
        out.append(textwrap.fill(text, width=max(width, 40), initial_indent="- ", subsequent_indent="  "))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The command


async def _get(kube: KubeClient, name: str) -> dict[str, Any]:
    try:
        obj = await kube.get(f"/apis/{API_VERSION}/{PLURAL}/{name}")
    except (KubeApiError, KubeTransportError, LoginError) as exc:
        raise CliError(f"cannot read ConformanceProfile {name}: {exc}") from None
    if obj is None:
        raise CliError(f"ConformanceProfile {name} not found (kubectl get cprof lists them)")
    return obj


async def _poll(
    kube: KubeClient, name: str, wait: float, say: Callable[[str], None], clock: Callable[[], float]
) -> tuple[ConformanceProfile, ProfileStatus, list[str]]:
    """The profile once it is ready to print, or at the deadline with what it still lacks."""
    start = clock()
    said: tuple[Sequence[str], float] | None = None
    while True:
        profile, status = parse_profile(await _get(kube, name))
        missing = pending(profile, status)
        elapsed = clock() - start
        if not missing or elapsed >= wait:
            return profile, status, missing
        if said is None or said[0] != missing or elapsed - said[1] >= PROGRESS_SECONDS:
            say(f"waiting for {name}'s status to show {', '.join(missing)} ({elapsed:.0f}s of {wait:.0f}s)")
            said = (missing, elapsed)
        await asyncio.sleep(min(POLL_SECONDS, max(wait - elapsed, 0.0)))


def run_status(args: argparse.Namespace) -> int:
    """Print the profile's requirements as a table; exit codes as `aiconform check`'s (the operator's verdicts)."""

    def say(line: str) -> None:
        print(f"aiconform: {line}", file=sys.stderr, flush=True)

    async def fetch() -> tuple[ConformanceProfile, ProfileStatus, list[str]]:
        with credentials(args.kubeconfig, args.context) as creds:
            async with KubeClient(creds, user_agent="aiconform-status") as kube:
                return await _poll(kube, args.name, max(args.wait, 0.0), say, time.monotonic)

    profile, status, missing = asyncio.run(fetch())
    evaluation = evaluation_from_status(status)
    if evaluation is None:
        raise CliError(f"ConformanceProfile {args.name} has not been evaluated yet ({'; '.join(missing)} missing)")
    if missing:
        say(
            f"after {args.wait:.0f}s the status still does not show {', '.join(missing)}: printing it as it is "
            "(the operator's log says what each probe did)"
        )
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if tty else TABLE_WIDTH
    sys.stdout.write(render_table(evaluation, color=use_colour(sys.stdout, os.environ), width=width))
    if line := probes_line(status):
        sys.stdout.write(line + "\n")
    if args.explain and (details := explain(evaluation, args.fail_on, width)):
        sys.stdout.write("\n" + details)
    skipped = probes_expected(profile) == [] and profile.spec.probes.run
    if skipped:
        say("spec.probes.run is set, but probes run only in mode Enforce")
    return exit_code(evaluation, args.fail_on)
