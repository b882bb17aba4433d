"""`aiconform check` and `aiconform export`: collect a snapshot once, evaluate it, render it.

The logic that decides anything (exit codes, metadata merging, profile parsing) is in small pure functions;
`run_check` and `run_export` only wire them to the cluster, the terminal and the file system. Every error the
user can fix becomes a `CliError` (one line, exit code 2).

Exit codes:
    0  conformant under --fail-on (must: every MUST met; should: every SHOULD met too)
    1  a requirement failed
    2  could not run: bad flags, kubeconfig, profile or metadata; API server unreachable; unknown version
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import ssl
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aiconform import __version__
from aiconform.api.models import ProfileSpec, validate_profile
from aiconform.checker.report import EvaluationView, counts_as_failure, rows
from aiconform.checker.report.bundle import PRODUCT_FILE, BundleInputs, plan_bundle
from aiconform.checker.report.jsonout import render_json
from aiconform.checker.report.junit import render_junit
from aiconform.checker.report.product_yaml import (
    ALL_METADATA_KEYS,
    K8S_CONFORMANCE_URL,
    MetadataError,
    metadata_keys,
    metadata_problems,
    normalize_metadata,
    render_product_yaml,
)
from aiconform.checker.report.table import render_table, summary_line
from aiconform.conformance.catalog import AUTO, REASON_NEWER_THAN_KNOWN, known_versions, resolve_version
from aiconform.conformance.evaluate import Evaluation, evaluate
from aiconform.conformance.probemerge import merge_evaluation
from aiconform.conformance.verdict import UNREADABLE, Verdict
from aiconform.errors import CliError
from aiconform.kube.client import Credentials, KubeClient
from aiconform.kube.collect import SCRAPE_MODES, CollectError, ScrapeMode, collect
from aiconform.kube.kubeconfig import KubeconfigAuth, KubeconfigError, LoginError, ServiceAccountAuth, resolve
from aiconform.kube.snapshot import Snapshot

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_FAILED",
    "EXIT_OK",
    "exit_code",
    "load_metadata",
    "load_profile",
    "merge_metadata",
    "run_check",
    "run_export",
    "scrape_mode",
    "use_colour",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
USER_AGENT = "aiconform-check"
TABLE_WIDTH = 160  # when not on a terminal


# ---------------------------------------------------------------------------------------------------------------
# Pure decisions


def exit_code(evaluation: EvaluationView, fail_on: str) -> int:
    """0 when the run passes under --fail-on, 1 when a requirement fails it, 2 when a MUST could not be evaluated.

    must: `evaluation.conformant` (every MUST Implemented, or N/A where evaluate() accepts it).
    should: that, and every SHOULD Implemented or N/A.
    """
    if fail_on not in ("must", "should"):
        raise ValueError(f"fail_on must be 'must' or 'should', not {fail_on!r}")
    # A MUST that could not be evaluated (a resource we may not read, a failed LIST) is a tool problem, not a
    # verdict: cannot-see is never reported as absent.
    if any(req.level == "MUST" and v.reason == UNREADABLE for req, v in rows(evaluation)):
        return EXIT_CANNOT_RUN
    if not evaluation.conformant:
        return EXIT_FAILED
    if any(counts_as_failure(req, v, fail_on) for req, v in rows(evaluation)):
        return EXIT_FAILED
    return EXIT_OK


def scrape_mode(choice: str, in_cluster: bool) -> ScrapeMode:
    """--scrape: `auto` scrapes pod IPs directly when logged in as the pod's own service account (the pod network
    is right there), else through the API server's pod proxy (pod IPs are not routable from a laptop)."""
    if choice == "auto":
        return "direct" if in_cluster else "proxy"
    for mode in SCRAPE_MODES:
        if choice == mode:
            return mode
    raise ValueError(f"--scrape must be auto, {' or '.join(SCRAPE_MODES)}, not {choice!r}")


def use_colour(stream: Any, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org)."""
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise CliError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CliError(f"{what} {path} is not valid YAML{where}") from None


def load_profile(path: Path) -> ProfileSpec:
    """A ConformanceProfile manifest, or just its spec, validated like the API server would."""
    doc = _read_yaml(path, "profile")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise CliError(f"profile {path} is not a mapping")
    manifest = doc if ("kind" in doc or "apiVersion" in doc or "spec" in doc) else {"spec": doc}
    try:
        return validate_profile(manifest).spec
    except ValidationError as exc:
        raise CliError(f"profile {path}: {_format_validation_error(exc)}") from None


def load_metadata(path: Path) -> dict[str, str]:
    """Metadata from a YAML mapping, or from the `metadata` section of a PRODUCT.yaml (e.g. last release's)."""
    doc = _read_yaml(path, "metadata file")
    if doc is None:
        return {}
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        doc = doc["metadata"]
    if not isinstance(doc, dict):
        raise CliError(f"metadata file {path} is not a mapping")
    try:
        return normalize_metadata(doc)
    except MetadataError as exc:
        raise CliError(f"metadata file {path}: {'; '.join(exc.problems)}") from None


def merge_metadata(from_file: Mapping[str, str], flags: Mapping[str, str | None]) -> dict[str, str]:
    """Flags override the file; a flag given as an empty string clears the field."""
    out = dict(from_file)
    for key, value in flags.items():
        if value is not None:
            out[key] = value.strip()
    return {k: v for k, v in out.items() if v}


def _attr(key: str) -> str:
    """argparse dest of a metadata flag: platformName → platform_name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


# ---------------------------------------------------------------------------------------------------------------
# Credentials


@contextmanager
def credentials(kubeconfig: str | None, context: str | None = None) -> Iterator[Credentials]:
    """The one login (kube/kubeconfig.py) of --kubeconfig, then $KUBECONFIG, then the pod's service account, with
    --context; the client takes its logins from `auth` (exec plugins, OIDC, refresh on expiry and on 401)."""
    with tempfile.TemporaryDirectory(prefix="aiconform-check-") as tmp:  # inline data and plugin certificates
        try:
            auth = resolve(kubeconfig, context, temp_dir=Path(tmp))
            static = auth.static() if isinstance(auth, KubeconfigAuth) else None
        except KubeconfigError as exc:
            raise CliError(str(exc)) from None
        token = static.authorization if static is not None else None
        yield Credentials(
            server=auth.server,
            ca_file=static.ca_file if static is not None else None,
            cert_file=static.cert_file if static is not None else None,
            key_file=static.key_file if static is not None else None,
            token=token.removeprefix("Bearer ") if token else None,
            auth=auth,
        )


async def _collect(creds: Credentials, scrape: bool, scrape_choice: str = "auto") -> Snapshot:
    mode = scrape_mode(scrape_choice, isinstance(creds.auth, ServiceAccountAuth))
    try:
        kube = KubeClient(creds, user_agent=USER_AGENT)
    except (ssl.SSLError, OSError) as exc:
        raise CliError(f"cannot set up TLS for {creds.server}: {exc}") from None
    async with kube:
        try:
            return await collect(kube, scrape=scrape, user_agent=f"{USER_AGENT}/{__version__}", scrape_mode=mode)
        except (CollectError, LoginError) as exc:
            raise CliError(f"{creds.server}: {exc}") from None


async def _probe(creds: Credentials, spec: ProfileSpec, snapshot: Snapshot) -> list[Verdict]:
    from aiconform.probes import PROBES, run_probes

    names: list[str] = list(spec.probes.run) or list(PROBES)
    async with KubeClient(creds, user_agent=f"{USER_AGENT}-probe") as kube:
        try:
            verdicts = await run_probes(kube, spec, snapshot, names)
        except LoginError as exc:
            raise CliError(f"{creds.server}: {exc}") from None
    for verdict in verdicts:
        print(f"aiconform: probe {verdict.requirement}: {verdict.status} ({verdict.reason})", file=sys.stderr)
    return verdicts


def run_probes_once(args: argparse.Namespace, spec: ProfileSpec, snapshot: Snapshot) -> list[Verdict]:
    """`--probe`: every probe once, after collecting (a probe needs the snapshot to know what to test)."""
    with credentials(args.kubeconfig, getattr(args, "context", None)) as creds:
        return asyncio.run(_probe(creds, spec, snapshot))


def _snapshot(
    kubeconfig: str | None, scrape: bool, context: str | None = None, scrape_choice: str = "auto"
) -> Snapshot:
    with credentials(kubeconfig, context) as creds:
        return asyncio.run(_collect(creds, scrape, scrape_choice))


def _evaluate(args: argparse.Namespace, spec: ProfileSpec | None = None) -> tuple[Evaluation, Snapshot]:
    """Profile, snapshot, resolved version, evaluation; a CliError for anything that stops the run."""
    if spec is None:
        spec = load_profile(Path(args.profile)) if args.profile else ProfileSpec()
    requested = args.kubernetes_version or spec.kubernetes_version
    if requested != AUTO and requested not in known_versions():
        # Known before touching the cluster: fail fast.
        raise CliError(resolve_version(requested, None).message)
    snapshot = _snapshot(
        args.kubeconfig,
        not getattr(args, "no_scrape", False),
        getattr(args, "context", None),
        getattr(args, "scrape", "auto"),
    )
    resolution = resolve_version(requested, snapshot.server_version)
    if not resolution.ok or resolution.version is None:
        raise CliError(resolution.message)
    if resolution.reason == REASON_NEWER_THAN_KNOWN:
        print(f"aiconform: note: {resolution.message}", file=sys.stderr)
    evaluation = evaluate(snapshot, spec, resolution.version)
    if getattr(args, "probe", False):
        evaluation = merge_evaluation(evaluation, run_probes_once(args, spec, snapshot))
    return evaluation, snapshot


# ---------------------------------------------------------------------------------------------------------------
# Commands


def _write_report(text: str, output_file: str | None) -> None:
    if not output_file or output_file == "-":
        sys.stdout.write(text)
        return
    path = Path(output_file)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def run_check(args: argparse.Namespace) -> int:
    evaluation, snapshot = _evaluate(args)
    fmt = args.output
    to_stdout = not args.output_file or args.output_file == "-"
    if fmt == "table":
        tty = to_stdout and sys.stdout.isatty()
        width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if tty else TABLE_WIDTH
        text = render_table(evaluation, color=to_stdout and use_colour(sys.stdout, os.environ), width=width)
    elif fmt == "json":
        text = render_json(evaluation, server_version=snapshot.server_version)
    elif fmt == "junit":
        text = render_junit(evaluation, fail_on=args.fail_on)
    elif fmt == "product-yaml":
        # A draft: the spec as evaluated, metadata left as the template's placeholders (`export` fills them).
        text = render_product_yaml(evaluation, evaluation.version, {}, draft=True)
    else:  # argparse restricts the choices
        raise CliError(f"unknown output format {fmt!r}")
    _write_report(text, args.output_file)
    if not to_stdout:
        print(summary_line(evaluation), file=sys.stderr)
    return exit_code(evaluation, args.fail_on)


def _metadata_flags(args: argparse.Namespace) -> dict[str, str | None]:
    return {k: getattr(args, _attr(k), None) for k in ALL_METADATA_KEYS if k != "kubernetesVersion"}


def _check_output_target(output: str | None, force: bool) -> Path | None:
    if not output or output == "-":
        return None
    path = Path(output)
    if path.exists() and not force:
        raise CliError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise CliError(f"directory {path.parent} does not exist")
    return path


def _write_new(path: Path, text: str, force: bool) -> None:
    """Write without ever clobbering a file that appeared meanwhile (unless --force); atomically with --force."""
    _write_bytes(path, text.encode("utf-8"), force, make_parents=False)


def _metadata_error(problems: list[str]) -> CliError:
    return CliError("metadata incomplete:\n" + "\n".join(f"  {p}" for p in problems))


def _precheck_metadata(args: argparse.Namespace, metadata: Mapping[str, str], *, extra: Sequence[str] = ()) -> None:
    """Metadata is checked before touching the cluster: all of it when the version is explicit, else the fields
    every template has (the version-specific ones once the cluster's version is known); `extra` keys too."""
    requested = args.kubernetes_version or AUTO
    known = known_versions()
    if requested in known:
        keys = [*metadata_keys(requested), *(k for k in extra if k not in metadata_keys(requested))]
        problems = metadata_problems(requested, metadata, keys=keys)
    else:
        common = [
            k for k in ALL_METADATA_KEYS if k != "kubernetesVersion" and all(k in metadata_keys(v) for v in known)
        ]
        problems = metadata_problems(known[-1], metadata, keys=[*common, *(k for k in extra if k not in common)])
    if problems:
        raise _metadata_error(problems)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_bytes(path: Path, data: bytes, force: bool, *, make_parents: bool = True) -> None:
    """Any content (copied declared files may be binary), never clobbering a file that appeared meanwhile
    (unless --force); atomically with --force."""
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        if not force:
            with path.open("xb") as f:
                f.write(data)
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except FileExistsError:
        raise CliError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def _run_export_bundle(
    args: argparse.Namespace, metadata: dict[str, str], file_version: str | None, out_dir: Path
) -> int:
    """`export --out-dir`: PRODUCT.yaml and one evidence file per requirement, validated before anything is written."""
    # validate.go requires k8sConformanceUrl for every version: refused here like any other missing field.
    _precheck_metadata(args, metadata, extra=[K8S_CONFORMANCE_URL])
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out-dir {out_dir} exists and is not a directory")
    spec = load_profile(Path(args.profile)) if args.profile else ProfileSpec()
    evaluation, snapshot = _evaluate(args, spec)
    version = evaluation.version
    if file_version and file_version != version:
        print(
            f"aiconform: note: the metadata file says kubernetesVersion {file_version}; writing {version}, the "
            f"evaluated checklist (pass --kubernetes-version {file_version} to evaluate that one instead)",
            file=sys.stderr,
        )
    bundle = plan_bundle(
        BundleInputs(
            evaluation=evaluation,
            snapshot=snapshot,
            metadata=metadata,
            out_dir=out_dir,
            evaluated_at=_now(),
            declarations={str(k): v for k, v in spec.requirements.items()},
            profile_path=Path(args.profile) if args.profile else None,
            allow_unmet=args.allow_unmet,
            force=args.force,
        )
    )
    for warning in bundle.warnings:
        print(f"aiconform: warning: {warning}", file=sys.stderr)
    if bundle.problems:
        raise CliError(
            f"refusing to write {out_dir} ({len(bundle.problems)} problem(s) validate.go or the file system would "
            "reject; nothing was written):\n" + "\n".join(f"  {p}" for p in bundle.problems)
        )
    for rel, data in bundle.files.items():  # PRODUCT.yaml last
        _write_bytes(out_dir / rel, data, args.force)
    size = sum(len(d) for d in bundle.files.values())
    kind = "DRAFT " if bundle.draft else ""
    print(
        f"wrote {kind}{out_dir / PRODUCT_FILE} and {len(bundle.evidence_files)} evidence files "
        f"({len(bundle.files)} files, {size} bytes; checklist {version}): {summary_line(evaluation)}",
        file=sys.stderr,
    )
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    metadata = merge_metadata(load_metadata(Path(args.metadata)) if args.metadata else {}, _metadata_flags(args))
    # kubernetesVersion is always the evaluated checklist; one in the file (e.g. last release's PRODUCT.yaml) is
    # only compared with it below.
    file_version = metadata.pop("kubernetesVersion", None)
    out_dir = getattr(args, "out_dir", None)
    if out_dir:
        if args.output:
            raise CliError("-o and --out-dir exclude each other: -o writes PRODUCT.yaml alone, --out-dir the bundle")
        return _run_export_bundle(args, metadata, file_version, Path(out_dir))
    if getattr(args, "allow_unmet", False):
        raise CliError("--allow-unmet only applies to --out-dir (the -o file is written whatever the verdicts)")
    target = _check_output_target(args.output, args.force)
    _precheck_metadata(args, metadata)

    evaluation, _ = _evaluate(args)
    version = evaluation.version
    if file_version and file_version != version:
        print(
            f"aiconform: note: the metadata file says kubernetesVersion {file_version}; writing {version}, the "
            f"evaluated checklist (pass --kubernetes-version {file_version} to evaluate that one instead)",
            file=sys.stderr,
        )
    try:
        text = render_product_yaml(evaluation, version, metadata)
    except MetadataError as exc:
        raise _metadata_error(exc.problems) from None

    if target is None:
        sys.stdout.write(text)
    else:
        _write_new(target, text, args.force)
        print(f"wrote {target} (checklist {version})", file=sys.stderr)
    if K8S_CONFORMANCE_URL not in metadata:
        print(
            f"aiconform: note: scripts/validate.go requires {K8S_CONFORMANCE_URL} for every version; "
            "pass --k8s-conformance-url before submitting",
            file=sys.stderr,
        )
    failing = [req.id for req, v in rows(evaluation) if req.level == "MUST" and v.status != "Implemented"]
    if failing:
        print(
            f"aiconform: note: {summary_line(evaluation)}; validate.go accepts only Implemented on a MUST, "
            f"not yet: {', '.join(failing)}",
            file=sys.stderr,
        )
    return EXIT_OK
