"""Developer tools built from Go modules, once, cached by version: today Helm (the chart's tests need it).

    python -m aiconform.devtools.devcluster.tools helm     # builds if needed, prints the binary's path

`go install helm.sh/helm/v3/cmd/helm@VERSION` works as is (Helm's go.mod has no replace directives). The
version and the Kubernetes version Helm assumes for `helm template` and `helm lint` (`.Capabilities`, API
deprecation checks) are link-time variables in Helm's Makefile; without them the binary calls itself `v3.22`
and renders for Kubernetes 1.20. They are set here the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aiconform.devtools.devcluster.build import Progress, _finish, _run, _stderr_progress, check_go, download_module
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.paths import bin_dir, cache_root

# The newest Helm 3 whose go.mod (`go 1.26.0`) builds with the local Go 1.26 toolchain (`go list -m -versions
# helm.sh/helm/v3`). Helm 4 changed its command line and chart API version; the chart targets Helm 3.
HELM = "3.22.0"
HELM_MODULE = "helm.sh/helm/v3"


def client_go_version(gomod: str) -> tuple[str, str]:
    """(major, minor) of Kubernetes that Helm's client-go v0.Y.Z speaks, as Helm's Makefile derives it."""
    match = re.search(r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.\d+", gomod, flags=re.MULTILINE)
    if match is None:
        raise DevClusterError("read helm go.mod", "no k8s.io/client-go requirement found")
    return "1", match.group(1)


def helm_ldflags(version: str, kube: tuple[str, str]) -> str:
    major, minor = kube
    pairs = {
        "helm.sh/helm/v3/internal/version.version": f"v{version}",
        "helm.sh/helm/v3/internal/version.gitTreeState": "clean",
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor": major,
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor": minor,
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor": major,
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor": minor,
    }
    return "-s -w " + " ".join(f"-X {k}={v}" for k, v in pairs.items())


def ensure_helm(progress: Progress = _stderr_progress, version: str = HELM) -> Path:
    """The path of a Helm binary of `version`, built with `go install` on first use (a minute or two)."""
    final = bin_dir("helm", version)
    binary = final / "helm"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = check_go()
    work = cache_root() / "src" / f"helm-{version}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    started = time.monotonic()
    progress(f"building Helm v{version} with go install (log: {log})")
    info = download_module(go, f"{HELM_MODULE}@v{version}", log)
    kube = client_go_version(Path(info["GoMod"]).read_text())
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    cmd = [
        go,
        "install",
        "-v",
        "-trimpath",
        "-ldflags",
        helm_ldflags(version, kube),
        f"{HELM_MODULE}/cmd/helm@v{version}",
    ]
    # GOBIN points into a staging directory that moves into the cache only once the build is complete.
    _run("go install helm", ["env", f"GOBIN={out}", *cmd], cache_root() / "tmp", log, progress)
    _finish(out, final, ["helm"])
    check = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, check=False)
    if check.returncode != 0 or f"v{version}" not in check.stdout:
        raise DevClusterError("check helm", f"`helm version` said {check.stdout.strip() or check.stderr.strip()!r}")
    progress(f"Helm v{version} ready in {time.monotonic() - started:.0f}s: {binary}")
    return binary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["helm"]:
        print("usage: python -m aiconform.devtools.devcluster.tools helm", file=sys.stderr)
        return 2
    try:
        print(ensure_helm())
    except DevClusterError as exc:
        print(f"aiconform tools: error in step {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
