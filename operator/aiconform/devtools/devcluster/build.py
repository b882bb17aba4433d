"""Build the control-plane binaries from Go modules, once, cached by version, with visible progress.

`go install pkg@version` refuses k8s.io/kubernetes and etcd's server (their go.mod files carry replace
directives), so each is built from a small helper module that requires the upstream module at a pinned
version and, for Kubernetes, points every staging module at its published v0.Y.Z tag.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from aiconform.devtools.devcluster import versions
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.paths import bin_dir, cache_root, src_dir

MIN_GO = (1, 26)
Progress = Callable[[str], None]


def _stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def go_env() -> dict[str, str]:
    """A build environment that never switches toolchains and never picks up a go.work of the caller."""
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOWORK": "off", "GOFLAGS": "-mod=mod"})
    return env


def check_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise DevClusterError("check Go toolchain", "`go` is not on PATH; install Go 1.26 or newer")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=go_env(), check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or match is None:
        raise DevClusterError("check Go toolchain", f"cannot read the Go version: {out.stderr.strip()}")
    found = (int(match.group(1)), int(match.group(2)))
    if found < MIN_GO:
        raise DevClusterError(
            "check Go toolchain",
            f"Go {found[0]}.{found[1]} is too old; Kubernetes {versions.KUBERNETES} needs 1.26",
        )
    return go


def _run(
    step: str, cmd: Sequence[str], cwd: Path, log: Path, progress: Progress, extra_env: Mapping[str, str] | None = None
) -> str:
    """Run one build command, streaming its output to a log; on failure name the step and the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    last_report = started
    packages = 0
    lines: list[str] = []
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(cmd)}\n")
        env = go_env() | dict(extra_env or {})
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            lines.append(line.rstrip())
            lines = lines[-20:]
            # `go build -v` prints one package path per compiled package: a cheap progress counter.
            if not line.startswith(("go: ", "#")):
                packages += 1
            now = time.monotonic()
            if now - last_report >= 15:
                last_report = now
                progress(f"  … {step}: {int(now - started)}s, {packages} packages")
        code = proc.wait()
    if code != 0:
        tail = "; ".join(x for x in lines[-3:] if x)
        raise DevClusterError(step, f"exit code {code}: {tail}", log=str(log))
    return "\n".join(lines)


def download_module(go: str, module: str, log: Path | None = None) -> dict[str, str]:
    """`go mod download -json module@version`: the module's info (`Dir`, `GoMod`, …); errors name the module."""
    where = str(log) if log else None
    tmp = cache_root() / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)  # outside any module, so `go mod download` takes a module@version
    out = subprocess.run(
        [go, "mod", "download", "-json", module],
        cwd=tmp,
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        info: dict[str, str] = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise DevClusterError(f"download {module}", out.stderr.strip() or "no output", log=where) from None
    if "Error" in info:
        raise DevClusterError(f"download {module}", info["Error"], log=where)
    return info


def _init_module(go: str, work: Path, name: str, log: Path, progress: Progress) -> None:
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "go.mod").exists():
        _run("go mod init", [go, "mod", "init", name], work, log, progress)


def staging_modules(upstream_gomod: str) -> list[str]:
    """The staging modules a Kubernetes go.mod replaces with ./staging paths (the set changes per minor)."""
    return re.findall(r"^\s*(k8s\.io/[a-z0-9-]+)\s+=>\s+\./staging/", upstream_gomod, flags=re.MULTILINE)


def godebug_default(upstream_gomod: str) -> str | None:
    """Upstream's `godebug default=goX.Y`: without it a helper module gets another Go's runtime defaults."""
    match = re.search(r"^godebug\s+default=(go[0-9.]+)", upstream_gomod, flags=re.MULTILINE)
    return match.group(1) if match else None


def version_ldflags(kubernetes: str) -> str:
    """Without these, /version says v0.0.0-master and `auto` version resolution cannot work."""
    major, minor, _ = kubernetes.split(".")
    v = f"v{kubernetes}"
    pairs = {
        "k8s.io/component-base/version.gitVersion": v,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/client-go/pkg/version.gitVersion": v,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return " ".join(f"-X {k}={val}" for k, val in pairs.items())


def _finish(staging: Path, final: Path, names: Sequence[str]) -> None:
    """Move a complete build into place at once, so a killed build never leaves a half cache."""
    for name in names:
        if not (staging / name).exists():
            raise DevClusterError("install binaries", f"{name} missing after build in {staging}")
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(final)


def _cached(final: Path, names: Sequence[str]) -> bool:
    return all((final / n).is_file() and os.access(final / n, os.X_OK) for n in names)


def build_kubernetes(progress: Progress = _stderr_progress) -> Path:
    k = versions.KUBERNETES
    final = bin_dir("kubernetes", k)
    if _cached(final, versions.KUBE_BINARIES):
        return final
    go = check_go()
    work = src_dir("kubernetes", k)
    log = work / "build.log"
    progress(f"building Kubernetes v{k} ({', '.join(versions.KUBE_BINARIES)}); cold builds take 15-40 min")
    progress(f"  log: {log}")
    gomod_path = download_module(go, f"k8s.io/kubernetes@v{k}", log)["GoMod"]
    upstream = Path(gomod_path).read_text()
    _init_module(go, work, "local/aiconform-kubernetes", log, progress)
    staging = staging_modules(upstream)
    if not staging:
        raise DevClusterError("read k8s.io/kubernetes go.mod", "no staging replace directives found")
    sv = versions.staging_version(k)
    edits = [f"-replace={m}={m}@v{sv}" for m in staging]
    debug = godebug_default(upstream)
    if debug:
        edits.append(f"-godebug=default={debug}")
    _run("go mod edit (staging replaces)", [go, "mod", "edit", *edits], work, log, progress)
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        + "".join(f'\t_ "k8s.io/kubernetes/cmd/{b}"\n' for b in versions.KUBE_BINARIES)
        + ")\n"
    )
    progress("  step 1/2: downloading modules (go get)")
    _run("go get k8s.io/kubernetes", [go, "get", f"k8s.io/kubernetes@v{k}"], work, log, progress)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    progress("  step 2/2: compiling (go build)")
    cmd = [go, "build", "-v", "-trimpath", "-ldflags", f"-s -w {version_ldflags(k)}", "-o", str(out) + "/"]
    cmd += [f"k8s.io/kubernetes/cmd/{b}" for b in versions.KUBE_BINARIES]
    _run("go build kubernetes", cmd, work, log, progress)
    _finish(out, final, versions.KUBE_BINARIES)
    return final


def _build_simple(component: str, version: str, module: str, package: str, binary: str, progress: Progress) -> Path:
    """etcd and kwok: a helper module that requires the upstream module; its replace directives are ignored."""
    final = bin_dir(component, version)
    if _cached(final, [binary]):
        return final
    go = check_go()
    work = src_dir(component, version)
    log = work / "build.log"
    progress(f"building {component} v{version} (log: {log})")
    _init_module(go, work, f"local/aiconform-{component}", log, progress)
    _run(f"go get {module}", [go, "get", f"{package}@v{version}"], work, log, progress)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    _run(
        f"go build {component}",
        [go, "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out / binary), package],
        work,
        log,
        progress,
    )
    _finish(out, final, [binary])
    return final


def build_etcd(progress: Progress = _stderr_progress) -> Path:
    return _build_simple(
        "etcd", versions.ETCD, "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3", "etcd", progress
    )


def build_kwok(progress: Progress = _stderr_progress) -> Path:
    return _build_simple("kwok", versions.KWOK, "sigs.k8s.io/kwok", "sigs.k8s.io/kwok/cmd/kwok", "kwok", progress)


# --- the real controllers (controllers.py runs them) ---------------------------------------------------------

KUEUE_MODULE = "sigs.k8s.io/kueue"
KEDA_MODULE = "github.com/kedacore/keda/v2"


def bare(version: str) -> str:
    """Cache keys carry versions without the leading v, like the control plane's (kueue-0.19.2)."""
    return version.removeprefix("v")


def kueue_install_cmd(go: str, version: str = versions.KUEUE) -> list[str]:
    """`go install` works for Kueue (its go.mod has no replace directive); GOBIN picks the output directory."""
    ldflags = f"-s -w -X {KUEUE_MODULE}/pkg/version.GitVersion={version}"
    return [go, "install", "-v", "-trimpath", "-ldflags", ldflags, f"{KUEUE_MODULE}/cmd/kueue@{version}"]


def keda_build_cmd(go: str, out: Path, version: str = versions.KEDA) -> list[str]:
    """Run inside a copy of KEDA's module: its replace directive makes `go install …@version` refuse it."""
    ldflags = f"-s -w -X {KEDA_MODULE}/version.Version={bare(version)}"
    return [go, "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(out), "./cmd/operator"]


def writable_copy(source: Path, dest: Path) -> Path:
    """A writable copy of a read-only module tree from the module cache, made once (`go build` may touch go.sum
    inside its main module). Copied aside and renamed, so a killed copy is never mistaken for a complete one."""
    if (dest / "go.mod").is_file():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    for directory, _, files in os.walk(partial):
        for path in (directory, *(os.path.join(directory, f) for f in files)):
            os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


@contextlib.contextmanager
def build_lock(component: str, version: str, progress: Progress) -> Iterator[None]:
    """One build of a component at a time across processes (concurrent test sessions, a manual `build`): the
    second waits, then finds the cached binary. The lock goes with the process, so a killed build never blocks."""
    lock = src_dir(component, version).with_name(f"{component}-{version}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another build of {component} {version} to finish (lock: {lock})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_kueue(progress: Progress = _stderr_progress) -> Path:
    final = bin_dir("kueue", bare(versions.KUEUE))
    if _cached(final, ["kueue"]):
        return final
    with build_lock("kueue", bare(versions.KUEUE), progress):
        if not _cached(final, ["kueue"]):
            _build_kueue(final, progress)
    return final


def _build_kueue(final: Path, progress: Progress) -> None:
    go = check_go()
    work = src_dir("kueue", bare(versions.KUEUE))
    log = work / "build.log"
    started = time.monotonic()
    progress(
        f"building Kueue {versions.KUEUE} with go install; a cold build takes ~10 min on 2 idle cores (log: {log})"
    )
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tmp = cache_root() / "tmp"  # outside any module, so `go install` takes a module@version
    tmp.mkdir(parents=True, exist_ok=True)
    _run("go install kueue", kueue_install_cmd(go), tmp, log, progress, extra_env={"GOBIN": str(out)})
    _finish(out, final, ["kueue"])
    progress(f"Kueue {versions.KUEUE} built in {time.monotonic() - started:.0f}s")


def build_keda(progress: Progress = _stderr_progress) -> Path:
    final = bin_dir("keda", bare(versions.KEDA))
    if _cached(final, ["keda"]):
        return final
    with build_lock("keda", bare(versions.KEDA), progress):
        if not _cached(final, ["keda"]):
            _build_keda(final, progress)
    return final


def _build_keda(final: Path, progress: Progress) -> None:
    go = check_go()
    work = src_dir("keda", bare(versions.KEDA))
    log = work / "build.log"
    started = time.monotonic()
    progress(f"building the KEDA operator {versions.KEDA}; a cold build takes ~15 min on 2 idle cores (log: {log})")
    info = download_module(go, f"{KEDA_MODULE}@{versions.KEDA}", log)
    module = writable_copy(Path(info["Dir"]), work / "module")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    _run("go build keda", keda_build_cmd(go, out / "keda"), module, log, progress)
    _finish(out, final, ["keda"])
    progress(f"KEDA {versions.KEDA} built in {time.monotonic() - started:.0f}s")


def build_controllers(names: Sequence[str], progress: Progress = _stderr_progress) -> dict[str, Path]:
    """The binaries of the named controllers (`kueue`, `keda`), by name; cached ones are found instantly."""
    builders = {"kueue": (build_kueue, "kueue"), "keda": (build_keda, "keda")}
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise DevClusterError("build controllers", f"unknown controller(s) {', '.join(unknown)}")
    return {n: builders[n][0](progress) / builders[n][1] for n in names}


def build_all(progress: Progress = _stderr_progress) -> dict[str, Path]:
    """Every binary the dev cluster runs, by name. Cached ones are found instantly."""
    started = time.monotonic()
    dirs = {
        "etcd": build_etcd(progress),
        "kwok": build_kwok(progress),
        "kubernetes": build_kubernetes(progress),
    }
    paths = {"etcd": dirs["etcd"] / "etcd", "kwok": dirs["kwok"] / "kwok"}
    paths.update({b: dirs["kubernetes"] / b for b in versions.KUBE_BINARIES})
    took = time.monotonic() - started
    if took > 5:
        progress(f"binaries ready in {took:.0f}s")
    return paths
