"""The Dockerfile, read as text (no Docker engine here): what the image promises and the chart relies on."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
VALUES = ROOT / "deploy" / "helm" / "aiconform" / "values.yaml"

COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|make|build-essential|cargo|rustc|golang|go)\b")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)", re.IGNORECASE)
SECRET_FILE = re.compile(r"(\.env\b|id_rsa|id_ed25519|\.pem\b|\.key\b|kubeconfig|\.netrc|\.npmrc|\.pypirc|\.ssh)")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, `\\` continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def stages() -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            found.append(Stage(parts[0], name))
        elif not found and keyword == "ARG":
            key, _, value = rest.partition("=")
            args[key] = value
        elif found:
            found[-1].instructions.append((keyword, rest))
    return args, found


def resolved(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)


def labels(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for args in stage.all("LABEL"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            out[key] = value
    return out


def test_multi_stage_build() -> None:
    _, found = stages()
    assert len(found) >= 2
    final = found[-1]
    names = {s.name for s in found[:-1]}
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=") for c in copies), "the final stage takes only built artifacts"
    assert {c.split()[0].removeprefix("--from=") for c in copies} <= names


def test_slim_base_for_the_final_stage() -> None:
    args, found = stages()
    base = resolved(found[-1].base, args)
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    assert "-slim" in resolved(found[0].base, args), "the build stage needs no full image either"


def test_non_root_numeric_user() -> None:
    _, found = stages()
    users = found[-1].all("USER")
    assert users, "the final stage must set USER"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) != 0, f"USER {users[-1]}: numeric and non-root, so runAsNonRoot can check it"
    assert not group or (group.isdigit() and int(group) != 0)
    chart = yaml.safe_load(VALUES.read_text())
    assert int(user) == chart["securityContext"]["runAsUser"] == chart["podSecurityContext"]["runAsUser"]


def test_no_compilers_in_the_final_stage() -> None:
    _, found = stages()
    final = found[-1]
    for run in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apk|yum|dnf|microdnf)\b.*\binstall\b", run) or not COMPILERS.search(run), run
        assert "pip install" not in run and "pip wheel" not in run, "build in the build stage, copy the result"


def test_oci_labels() -> None:
    _, found = stages()
    got = labels(found[-1])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for key in ("title", "description", "version", "licenses", "source"):
        assert got.get(f"org.opencontainers.image.{key}"), f"missing OCI label {key}"
    assert got["org.opencontainers.image.title"] == project["name"]
    license_ = project["license"] if isinstance(project["license"], str) else project["license"]["text"]
    assert got["org.opencontainers.image.licenses"] == license_
    version_arg = next(a for a in found[-1].all("ARG") if a.startswith("VERSION="))
    assert version_arg == f"VERSION={project['version']}"


def test_no_secrets() -> None:
    args, found = stages()
    for stage in found:
        for keyword, rest in stage.instructions:
            if keyword in ("ARG", "ENV"):
                for item in shlex.split(rest):
                    assert not SECRET_NAME.search(item.partition("=")[0]), f"{keyword} {item}: secrets leak into layers"
            if keyword in ("COPY", "ADD"):
                sources = [p for p in rest.split()[:-1] if not p.startswith("--")]
                assert "." not in sources, "copy named paths, never the whole build context"
                assert not any(SECRET_FILE.search(p) for p in sources), rest
            if keyword == "ADD":
                assert not re.search(r"https?://", rest), "ADD from a URL is not reproducible"
            if keyword == "RUN":
                assert "--mount=type=secret" not in rest or "cat " not in rest
    assert not any(SECRET_NAME.search(k) for k in args)


def test_entrypoint_matches_the_chart() -> None:
    _, found = stages()
    final = found[-1]
    assert final.all("ENTRYPOINT") == ['["aiconform"]']
    exposed = {p for e in final.all("EXPOSE") for p in e.split()}
    chart = yaml.safe_load(VALUES.read_text())["operator"]
    assert {str(chart["livenessPort"]), str(chart["metricsPort"])} <= exposed
    cmd = final.all("CMD")[-1]
    assert cmd.startswith('["run"') and "--log-format" in cmd
    env = " ".join(final.all("ENV"))
    assert "TMPDIR=/tmp" in env, "the chart mounts its only writable volume at /tmp"


def test_parser_joins_continuations() -> None:
    text = "FROM a AS b\n# c\nRUN x \\\n  # inner\n  && y\nUSER 1\n"
    assert instructions(text) == [("FROM", "a AS b"), ("RUN", "x && y"), ("USER", "1")]
