"""The CNCF submission directory (`aiconform export --out-dir DIR`), planned in memory and validated before a write.

    DIR/PRODUCT.yaml                    the checklist, filled from the verdicts; each item's evidence lists
                                        evidence/<id>.md, then the declaration's URLs and files
    DIR/evidence/<id>.md                one per requirement: verdict, tier, reason, message, objects, transcripts
    DIR/evidence/declared/<id>/<file>   files a declaration (spec.requirements.<id>.evidence) names, copied in

`plan_bundle` is pure apart from reading the declared files: it renders every file, redacts it, and runs the
offline rules of validate.go (`submission.check_product`) on exactly the bytes it would write, against the set
of files that will exist. Each problem becomes one message naming the flag or field that fixes it. A MUST that
is not Implemented refuses the export unless `allow_unmet` (the bundle is then a draft, marked in a comment at
the top of PRODUCT.yaml and in each evidence file: validate.go ignores comments, and would reject the draft on
its own for the unmet MUSTs). The caller writes `files` only when `problems` is empty.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from aiconform import __version__
from aiconform.api.models import DeclaredRequirement
from aiconform.checker.report import EvaluationView, rows
from aiconform.checker.report.evidence_md import EvidenceContext, render_evidence
from aiconform.checker.report.product_yaml import (
    K8S_CONFORMANCE_URL,
    flag_for,
    metadata_keys,
    metadata_problems,
    render_product_yaml,
)
from aiconform.checker.report.redact import redact_text
from aiconform.checker.report.submission import (
    CATEGORY_MISSING,
    EVIDENCE_FILE_MISSING,
    EVIDENCE_NOT_STRING,
    MUST_NOT_IMPLEMENTED,
    NA_WITHOUT_NOTES,
    ONLINE_RULES,
    REQUIREMENT_MISSING,
    SPEC_MISSING,
    STATUS_INVALID,
    Finding,
    check_product,
    is_url,
)
from aiconform.conformance.catalog import Requirement
from aiconform.kube.snapshot import Snapshot

__all__ = ["PRODUCT_FILE", "Bundle", "BundleInputs", "plan_bundle"]

PRODUCT_FILE = "PRODUCT.yaml"
EVIDENCE_DIR = "evidence"
DECLARED_DIR = "evidence/declared"
MAX_DECLARED_FILE = 10 * 1024 * 1024
_VERSION_DIR = re.compile(r"^v\d+\.\d+$")


@dataclass(frozen=True)
class BundleInputs:
    evaluation: EvaluationView
    snapshot: Snapshot
    metadata: Mapping[str, str]
    out_dir: Path
    evaluated_at: str
    declarations: Mapping[str, DeclaredRequirement] = field(default_factory=dict)
    profile_path: Path | None = None  # declared files are relative to its directory
    allow_unmet: bool = False
    force: bool = False


@dataclass
class Bundle:
    """Relative POSIX path → content, in write order (PRODUCT.yaml last); refusals and warnings."""

    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    draft: bool = False
    unmet: list[str] = field(default_factory=list)

    @property
    def product(self) -> str:
        return self.files[PRODUCT_FILE].decode("utf-8")

    @property
    def evidence_files(self) -> list[str]:
        return [p for p in self.files if p.startswith(EVIDENCE_DIR + "/") and not p.startswith(DECLARED_DIR + "/")]


def evidence_path(req_id: str) -> str:
    return f"{EVIDENCE_DIR}/{req_id}.md"


def _profile_ref(inputs: BundleInputs, req_id: str, index: int) -> str:
    where = f" in --profile {inputs.profile_path}" if inputs.profile_path else ""
    return f"spec.requirements.{req_id}.evidence[{index}]{where}"


def _read_declared(path: Path) -> bytes | str:
    """The file's content, or why it cannot be used."""
    try:
        if not path.is_file():
            return "no such file" if not path.exists() else "not a regular file"
        if path.stat().st_size > MAX_DECLARED_FILE:
            return f"larger than {MAX_DECLARED_FILE // (1024 * 1024)} MiB"
        return path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)


def _redact_file(data: bytes) -> bytes:
    """Text files are redacted; binary ones (images) are copied as they are."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return redact_text(text).encode("utf-8")


def _inside(path: Path, directory: Path) -> str | None:
    """`path` relative to `directory` (POSIX) when it lies inside it."""
    try:
        return path.resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return None


def _declared_entries(
    inputs: BundleInputs, req_id: str, declared: DeclaredRequirement, bundle: Bundle
) -> tuple[list[str], list[tuple[str, str]]]:
    """(PRODUCT.yaml evidence entries, (label, link from evidence/<id>.md)) of one declaration; files planned."""
    entries: list[str] = []
    links: list[tuple[str, str]] = []
    base = inputs.profile_path.parent if inputs.profile_path else Path.cwd()
    used: set[str] = set()
    for index, raw in enumerate(declared.evidence):
        entry = raw.strip()
        if not entry:
            continue
        if is_url(entry):
            entries.append(entry)
            links.append((entry, entry))
            continue
        source = Path(entry).expanduser()
        source = source if source.is_absolute() else base / source
        content = _read_declared(source)
        if isinstance(content, str):
            bundle.problems.append(
                f"{_profile_ref(inputs, req_id, index)}: {entry!r} is neither an http(s) URL nor a file "
                f"({source}: {content}); validate.go accepts only URLs and files next to PRODUCT.yaml — give a URL "
                "or the path of a file relative to the profile"
            )
            continue
        already = _inside(source, inputs.out_dir)
        if already is not None and not already.startswith(f"{EVIDENCE_DIR}/"):
            rel = already  # a file the user keeps in the submission directory already: referenced, not copied
        else:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name).lstrip(".") or f"file-{index}"
            stem, dot, ext = name.rpartition(".")
            candidate, n = name, 1
            while candidate in used:
                n += 1
                candidate = f"{stem}-{n}{dot}{ext}" if dot else f"{name}-{n}"
            used.add(candidate)
            rel = f"{DECLARED_DIR}/{req_id}/{candidate}"
            bundle.files[rel] = _redact_file(content)
        entries.append(rel)
        links.append((entry, posixpath.relpath(rel, EVIDENCE_DIR)))
    return entries, links


def _path_problems(inputs: BundleInputs, version: str, bundle: Bundle) -> None:
    """validate.go reads the checklist version from the path: vX.Y/<product>/PRODUCT.yaml."""
    parent = inputs.out_dir.resolve().parent.name
    if _VERSION_DIR.match(parent):
        if parent != version:
            bundle.problems.append(
                f"--out-dir {inputs.out_dir} is under {parent}/ but the evaluated checklist is {version}: "
                f"validate.go would check it against the {parent} template; use --out-dir {version}/<product> "
                f"or --kubernetes-version {parent}"
            )
    else:
        bundle.warnings.append(
            f"--out-dir {inputs.out_dir} is not a {version}/<product> directory; in the pull request to "
            f"cncf/k8s-ai-conformance it must be {version}/<product>/ (validate.go reads the version from the path)"
        )


def _message(f: Finding, inputs: BundleInputs, declared_from: Mapping[str, str]) -> str:
    """A validator finding as one line naming the flag or field that fixes it."""
    if f.rule.startswith("metadata") or f.rule == "k8s-conformance-url-format":
        if f.subject == "kubernetesVersion":
            return f"metadata field kubernetesVersion: {f.text} (it is the evaluated checklist; a bug if you see this)"
        hint = {
            "metadata-missing": "is missing",
            "metadata-empty": "is empty",
            "metadata-not-string": f"is not a string ({f.item!r})",
            "metadata-placeholder": f"is a template placeholder {f.item!r}",
            "k8s-conformance-url-format": f"must look like https://github.com/cncf/k8s-conformance/tree/main/"
            f"{inputs.evaluation.version}/<product> (got {f.item!r})",
        }.get(f.rule, f.text)
        return f"metadata field {f.subject} {hint}: pass {flag_for(f.subject)} or set it in --metadata"
    if f.rule == EVIDENCE_FILE_MISSING:
        origin = declared_from.get(f.item)
        fix = f"fix {origin}" if origin else "a bug in the export (the file was not planned)"
        return f"{f.subject}: evidence file {f.item!r} would not exist next to PRODUCT.yaml; {fix}"
    if f.rule in (STATUS_INVALID, NA_WITHOUT_NOTES, EVIDENCE_NOT_STRING):
        return f"{f.subject}: {f.text}; fix spec.requirements.{f.subject} in --profile"
    if f.rule in (SPEC_MISSING, CATEGORY_MISSING, REQUIREMENT_MISSING):
        return f"{f.subject}: {f.text} (a bug in the export)"
    return f"{f.subject}: {f.text}"


def _unmet_message(req: Requirement, status: str, reason: str, message: str) -> str:
    short = message.strip() if len(message.strip()) <= 200 else message.strip()[:197] + "..."
    short = short if short.endswith((".", "...")) else short + "."
    text = (
        f"{req.id} is a MUST and {status} ({reason}): {short} validate.go accepts only Implemented on a MUST: "
        f"make it so on the cluster, or declare it in spec.requirements.{req.id} of --profile with evidence, "
        "or pass --allow-unmet to write a draft"
    )
    if status == "N/A" and req.conditional:
        text += " (see the warning on conditional MUSTs)"
    return text


def _conditional_na_warning(ids: Sequence[str]) -> str:
    return (
        f"{', '.join(ids)}: N/A on a conditional MUST. The CNCF FAQ allows N/A with a justification when the "
        "requirement's context does not apply (e.g. no autoscaler on-prem), but scripts/validate.go rejects any MUST "
        "that is not Implemented, so the pull request's check will fail on it. aiconform writes the truth (N/A with "
        "your notes); before submitting, either explain the N/A to the reviewers in the pull request, or — as some "
        "on-prem submissions do — write Implemented with the N/A reasoning in notes, which is your decision, not "
        "the tool's"
    )


def plan_bundle(inputs: BundleInputs, *, exists: Callable[[Path], bool] | None = None) -> Bundle:
    """Every file of the submission directory, redacted and validated; nothing is written here."""
    exists = exists or (lambda p: p.exists())
    evaluation = inputs.evaluation
    version = evaluation.version
    bundle = Bundle()
    _path_problems(inputs, version, bundle)
    pairs = rows(evaluation)

    unmet = [(req, v) for req, v in pairs if req.level == "MUST" and v.status != "Implemented"]
    bundle.unmet = [req.id for req, _ in unmet]
    bundle.draft = bool(unmet) and inputs.allow_unmet
    ctx = EvidenceContext(
        server_version=inputs.snapshot.server_version,
        aiconform_version=__version__,
        checklist_version=version,
        evaluated_at=inputs.evaluated_at,
        draft=bundle.draft,
    )

    evidence: dict[str, list[str]] = {}
    declared_from: dict[str, str] = {}
    for req, v in pairs:
        entries = [evidence_path(req.id)]
        links: list[tuple[str, str]] = []
        declared = inputs.declarations.get(req.id)
        if declared is not None:
            more, links = _declared_entries(inputs, req.id, declared, bundle)
            for i, e in enumerate(more):
                declared_from.setdefault(e, _profile_ref(inputs, req.id, i))
            entries += [e for e in more if e not in entries]
        evidence[req.id] = entries
        text = render_evidence(req, v, inputs.snapshot, ctx, declared_links=links)
        bundle.files[evidence_path(req.id)] = text.encode("utf-8")

    draft_note = ""
    if bundle.draft:
        draft_note = (
            "# DRAFT — exported with --allow-unmet; not ready to submit. MUSTs not Implemented: "
            f"{', '.join(bundle.unmet)}\n"
        )
    # The metadata rules first, each naming its flag (validate.go requires k8sConformanceUrl for every version).
    keys = [*metadata_keys(version), *([] if K8S_CONFORMANCE_URL in metadata_keys(version) else [K8S_CONFORMANCE_URL])]
    meta_problems = metadata_problems(version, inputs.metadata, keys=keys)
    bundle.problems.extend(meta_problems)
    reported = {k for k in keys for p in meta_problems if re.search(rf"\b{k}\b", p)}
    product = render_product_yaml(
        evaluation, version, inputs.metadata, evidence=evidence, banner=draft_note, check_metadata=False
    )
    product = redact_text(product)
    bundle.files[PRODUCT_FILE] = product.encode("utf-8")  # last: written after everything it points at

    # The validator's offline rules, on the exact text to be written and the files that will exist.
    planned = set(bundle.files)

    def file_exists(entry: str) -> bool:
        rel = PurePosixPath(posixpath.normpath(entry)).as_posix()
        return rel in planned or exists(inputs.out_dir / entry)

    findings = check_product(yaml.safe_load(product), version, file_exists)
    for f in findings:
        if f.rule == MUST_NOT_IMPLEMENTED or f.subject in reported:
            continue  # below, with the verdict's reason and message; or reported above with its flag
        bundle.problems.append(_message(f, inputs, declared_from))
    unmet_lines = [_unmet_message(req, v.status, v.reason, v.message) for req, v in unmet]
    if inputs.allow_unmet:
        if unmet:
            bundle.warnings.append(
                f"writing a DRAFT (--allow-unmet): {len(unmet)} MUST(s) not Implemented, which validate.go "
                f"rejects: {', '.join(bundle.unmet)}"
            )
    else:
        bundle.problems.extend(unmet_lines)
    conditional_na = [req.id for req, v in unmet if req.conditional and v.status == "N/A"]
    if conditional_na:
        bundle.warnings.append(_conditional_na_warning(conditional_na))
    bundle.warnings.append("validate.go also checks online, which the export cannot: " + "; ".join(ONLINE_RULES))

    if not inputs.force:
        taken = [p for p in bundle.files if exists(inputs.out_dir / p)]
        if taken:
            shown = ", ".join(str(inputs.out_dir / p) for p in taken[:5])
            rest = f" and {len(taken) - 5} more" if len(taken) > 5 else ""
            bundle.problems.append(f"{shown}{rest} exist; pass --force to overwrite them")
    return bundle
