"""e2e fixtures: one real dev cluster per test session (reused when $KUBECONFIG points at a running one),
the CRD installed, and the operator running as its own process, as a user would run it."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
E2E_CLUSTER = os.environ.get("AICONFORM_E2E_CLUSTER", "e2e")  # a name of its own per concurrent session
E2E_PORT = int(os.environ.get("AICONFORM_E2E_PORT", "16444"))
AICONFORM = [sys.executable, "-m", "aiconform"]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(kubeconfig: str) -> bool:
    from aiconform.kube.client import load_credentials

    try:
        creds = load_credentials(Path(kubeconfig))
        ctx = ssl.create_default_context(cafile=creds.ca_file)
        if creds.cert_file and creds.key_file:
            ctx.load_cert_chain(creds.cert_file, creds.key_file)
        with urllib.request.urlopen(f"{creds.server}/readyz", timeout=3, context=ctx) as resp:
            return bool(resp.status == 200)
    except Exception:
        return False


@dataclass
class Cluster:
    kubeconfig: str
    bin_dir: Path
    started_here: bool

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        out = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120, check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out

    def get_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.kubectl("get", "-o", "json", *args).stdout)
        return data

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Bounded poll: fails with `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    from aiconform.devtools.devcluster.build import build_all

    bin_dir = build_all()["kubectl"].parent
    env_kc = os.environ.get("KUBECONFIG")
    if env_kc and _reachable(env_kc):
        yield Cluster(env_kc, bin_dir, started_here=False)
        return
    up = subprocess.run(
        [
            *AICONFORM,
            "dev-cluster",
            "--name",
            E2E_CLUSTER,
            "up",
            "--port",
            str(E2E_PORT),
            "--with-crds",
            "servicemonitor",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if up.returncode != 0:
        pytest.fail(f"dev-cluster up failed: {up.stderr.strip()[-2000:]}")
    kubeconfig = up.stdout.strip().splitlines()[-1]
    try:
        yield Cluster(kubeconfig, bin_dir, started_here=True)
    finally:
        subprocess.run(
            [*AICONFORM, "dev-cluster", "--name", E2E_CLUSTER, "down", "--purge"],
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> str:
    # --force-conflicts: a reused cluster may hold an older copy applied by `make demo` (the same CRD, ours).
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=aiconform-e2e", "-f", str(ROOT / "crds")
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd/conformanceprofiles.aiconform.io", "--timeout=60s")
    # Established comes before the OpenAPI document is republished; `kubectl explain` needs the latter.
    cluster.wait_for(
        "CRD in OpenAPI",
        lambda: cluster.kubectl("explain", "cprof", check=False).returncode == 0,
        timeout=60,
        interval=0.5,
    )
    return "conformanceprofiles.aiconform.io"


@dataclass
class Operator:
    """The operator as its own process. Fault tests may SIGKILL it and `start()` it again on the same ports."""

    cmd: list[str]
    liveness: str
    metrics: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self, cluster: Cluster) -> None:
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(self.cmd, stdout=sink, stderr=subprocess.STDOUT)
        self.starts += 1
        cluster.wait_for("operator liveness", self.healthy, timeout=60)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}: {self.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.liveness, timeout=2) as resp:  # loopback only
                return bool(resp.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, exactly like an OOM kill or a node loss."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


OPERATOR_NAMESPACE = "aiconform-system"
OPERATOR_RELEASE = "aiconform"


def token_kubeconfig(cluster: Cluster, token: str, path: Path, namespace: str | None = None) -> Path:
    """A kubeconfig for the same API server that authenticates with a ServiceAccount token."""
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    ctx = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
    entry = next(c for c in admin["clusters"] if c["name"] == ctx["cluster"])
    context: dict[str, str] = {"cluster": entry["name"], "user": "operator"}
    if namespace:
        context["namespace"] = namespace  # where kopf posts Events, as in the pod's own namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [entry],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": context}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Least privilege, proven: the operator runs under the Helm chart's ServiceAccount and ClusterRole, exactly
    as installed, never as an admin. AICONFORM_E2E_ADMIN=1 runs it with the admin kubeconfig instead (debugging)."""
    if os.environ.get("AICONFORM_E2E_ADMIN") == "1":
        return cluster.kubeconfig
    from aiconform.devtools.devcluster.tools import ensure_helm

    chart = ROOT / "deploy" / "helm" / "aiconform"
    args = ["template", OPERATOR_RELEASE, str(chart), "--namespace", OPERATOR_NAMESPACE, "--set", "installCRDs=false"]
    rendered = subprocess.run(
        [str(ensure_helm()), *args], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    kinds = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    rbac = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in kinds]
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    manifest = yaml.safe_dump_all(rbac)
    cluster.kubectl("apply", "--server-side", "--field-manager=aiconform-e2e", "-f", "-", input=manifest)
    sa = next(d for d in rbac if d["kind"] == "ServiceAccount")["metadata"]["name"]
    token = cluster.kubectl("create", "token", sa, "-n", OPERATOR_NAMESPACE, "--duration=6h").stdout.strip()
    path = tmp_path_factory.mktemp("operator-identity") / "kubeconfig"
    return str(token_kubeconfig(cluster, token, path, OPERATOR_NAMESPACE))


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd: str, operator_kubeconfig: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    live, met = _free_port(), _free_port()
    cmd = [*AICONFORM, "run", "--kubeconfig", operator_kubeconfig, "--bind-address", "127.0.0.1"]
    cmd += ["--liveness-port", str(live), "--metrics-port", str(met)]
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    op = Operator(cmd, f"http://127.0.0.1:{live}/healthz", f"http://127.0.0.1:{met}/metrics", log)
    op.start(cluster)
    try:
        yield op
    finally:
        op.stop()
