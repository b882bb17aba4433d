"""The one login against the real dev API server (issue 15.1): an exec credential plugin returning client
certificates from the dev PKI, a credential that expires and is refreshed without a restart (our clients and
kopf's), several contexts and --context, and a tls-server-name mismatch refused with a clear message."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AICONFORM, Cluster

from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError, load_credentials

pytestmark = pytest.mark.e2e

# Signs a fresh client certificate with the dev cluster's CA on every run (the API server trusts that CA for
# clients), valid for argv[3] seconds; saves the first one, counts its runs.
PLUGIN = """
import datetime as dt, json, pathlib, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
pki, state, lifetime = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), float(sys.argv[3])
n = int((state / "runs").read_text()) + 1 if (state / "runs").exists() else 1
(state / "runs").write_text(str(n))
ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
key = ec.generate_private_key(ec.SECP256R1())
now = dt.datetime.now(dt.timezone.utc)
subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                     x509.NameAttribute(NameOID.COMMON_NAME, f"login-e2e-{n}")])
cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(seconds=lifetime)).sign(ca_key, hashes.SHA256()))
crt = cert.public_bytes(serialization.Encoding.PEM).decode()
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
if n == 1:
    (state / "first.crt").write_text(crt); (state / "first.key").write_text(pem)
expiry = (now + dt.timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"clientCertificateData": crt, "clientKeyData": pem, "expirationTimestamp": expiry}}))
"""


def _admin(cluster: Cluster) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    return doc


def _server(cluster: Cluster) -> str:
    return str(_admin(cluster)["clusters"][0]["cluster"]["server"])


def _ca(cluster: Cluster) -> str:
    return str(_admin(cluster)["clusters"][0]["cluster"]["certificate-authority"])


def _kubeconfig(path: Path, contexts: dict[str, tuple[dict[str, Any], dict[str, Any]]], current: str) -> Path:
    """`contexts`: name → (cluster, user)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": current,
                "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in contexts],
                "clusters": [{"name": n, "cluster": c} for n, (c, _) in contexts.items()],
                "users": [{"name": n, "user": u} for n, (_, u) in contexts.items()],
            }
        )
    )
    path.chmod(0o600)
    return path


def _exec_user(cluster: Cluster, state: Path, lifetime: float) -> dict[str, Any]:
    state.mkdir(exist_ok=True)
    plugin = state / "plugin.py"
    plugin.write_text(PLUGIN)
    pki = Path(_ca(cluster)).parent
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin), str(pki), str(state), str(lifetime)],
            "interactiveMode": "Never",
        }
    }


def _runs(state: Path) -> int:
    return int((state / "runs").read_text())


def _check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AICONFORM, "check", "--no-scrape", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_check_with_exec_plugin_kubeconfig(cluster: Cluster, tmp_path: Path) -> None:
    state = tmp_path / "plugin"
    kc = _kubeconfig(
        tmp_path / "exec.kubeconfig",
        {"dev": ({"server": _server(cluster), "certificate-authority": _ca(cluster)}, _exec_user(cluster, state, 600))},
        "dev",
    )
    out = _check("--kubeconfig", str(kc))
    print(out.stdout[-3000:], out.stderr[-2000:])  # recorded for the closing note
    assert out.returncode in (0, 1), out.stderr  # evaluated (1: requirements unmet on a bare cluster), not "cannot run"
    assert "REQUIREMENT" in out.stdout.upper() or "MUST" in out.stdout
    assert _runs(state) == 1  # one plugin run for the whole check: the certificate is kept until it expires


def test_expiring_certificate_refreshed_without_restart(cluster: Cluster, tmp_path: Path) -> None:
    state = tmp_path / "plugin"
    lifetime = 12.0
    kc = _kubeconfig(
        tmp_path / "exec.kubeconfig",
        {
            "dev": (
                {"server": _server(cluster), "certificate-authority": _ca(cluster)},
                _exec_user(cluster, state, lifetime),
            )
        },
        "dev",
    )

    async def run() -> None:
        async with KubeClient(load_credentials(kc)) as kube:
            deadline = time.monotonic() + 2.5 * lifetime
            while time.monotonic() < deadline:  # every request succeeds across several expiries
                assert (await kube.version())["gitVersion"]
                assert await kube.list("/api/v1/namespaces")
                await asyncio.sleep(1.0)
        # the first certificate really expired: the API server refuses it now
        first = _kubeconfig(
            tmp_path / "first.kubeconfig",
            {
                "dev": (
                    {"server": _server(cluster), "certificate-authority": _ca(cluster)},
                    {"client-certificate": str(state / "first.crt"), "client-key": str(state / "first.key")},
                )
            },
            "dev",
        )
        async with KubeClient(load_credentials(first)) as stale:
            with pytest.raises(KubeApiError) as refused:
                await stale.list("/api/v1/namespaces")
            assert refused.value.status == 401

    asyncio.run(run())
    assert _runs(state) >= 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_operator_logs_in_with_exec_plugin_and_refreshes(cluster: Cluster, crd: str, tmp_path: Path) -> None:
    """kopf's login and our informers, passes and repairs share the one login: across certificate expiries the
    operator keeps watching and answering, with no restart and no authentication error left standing."""
    state = tmp_path / "plugin"
    lifetime = 15.0
    kc = _kubeconfig(
        tmp_path / "exec.kubeconfig",
        {
            "broken": ({"server": "https://127.0.0.1:1"}, {"token": "x"}),
            "dev": (
                {"server": _server(cluster), "certificate-authority": _ca(cluster)},
                _exec_user(cluster, state, lifetime),
            ),
        },
        "broken",
    )
    log = tmp_path / "operator.log"
    cmd = [*AICONFORM, "run", "--kubeconfig", str(kc), "--context", "dev", "--bind-address", "127.0.0.1",
           "--liveness-port", str(_free_port()), "--metrics-port", str(_free_port())]  # fmt: skip
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        cluster.wait_for("initial listing", lambda: "Initial listing complete" in log.read_text(), timeout=90)
        time.sleep(2.5 * lifetime)  # several expiries: kopf logs in again, our clients reload
        name = "login-e2e"
        cluster.kubectl("create", "namespace", name, check=False)
        cluster.kubectl(
            "apply", "-f", "-",
            input=yaml.safe_dump({"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile",
                                  "metadata": {"name": name}, "spec": {"mode": "Audit"}}),
        )  # fmt: skip
        try:
            cluster.wait_for(
                "the profile evaluated after the expiries",
                lambda: cluster.get_json("cprof", name).get("status", {}).get("conditions"),
                timeout=90,
            )
        finally:
            cluster.kubectl("delete", "cprof", name, "--wait=false", check=False)
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Logging in to " + _server(cluster) in text
    # the first certificate expired long before the profile was made: its status was written with a later one
    assert _runs(state) >= 2, text[-3000:]
    # A 401 as a number of its own (not digits of a timestamp or an address in some other line).
    assert not re.search(r"(?<![\w.])401(?![\w.])", text) and "Unauthorized" not in text, text[-3000:]
    assert "Unclosed client session" not in text, text[-3000:]  # every client of every login closed on stop


def test_contexts_and_context_flag(cluster: Cluster, tmp_path: Path) -> None:
    admin = _admin(cluster)
    real = ({"server": _server(cluster), "certificate-authority": _ca(cluster)}, admin["users"][0]["user"])
    first = _kubeconfig(tmp_path / "a", {"broken": ({"server": "https://127.0.0.1:1"}, {"token": "x"})}, "broken")
    second = _kubeconfig(tmp_path / "b", {"dev": real, "broken": ({"server": "https://127.0.0.1:2"}, {})}, "dev")
    env = {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    # merged as kubectl does: current-context and `broken` come from the first file
    default = _check(env=env)
    assert default.returncode == 2 and "127.0.0.1:1" in default.stderr, default.stderr
    picked = _check("--context", "dev", env=env)
    assert picked.returncode in (0, 1), picked.stderr
    unknown = _check("--context", "prod", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith("has no context 'prod' (contexts: broken, dev)"), unknown.stderr
    export = subprocess.run([*AICONFORM, "export", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert "--context" in export.stdout  # export shares check's cluster flags and login


def test_tls_server_name(cluster: Cluster, tmp_path: Path) -> None:
    user = _admin(cluster)["users"][0]["user"]

    def kubeconfig(name: str) -> Path:
        cfg = {"server": _server(cluster), "certificate-authority": _ca(cluster), "tls-server-name": name}
        return _kubeconfig(tmp_path / name, {"dev": (cfg, user)}, "dev")

    async def version(kc: Path) -> str:
        async with KubeClient(load_credentials(kc)) as kube:
            return str((await kube.version())["gitVersion"])

    assert asyncio.run(version(kubeconfig("kubernetes.default")))  # a name the serving certificate holds
    with pytest.raises(KubeTransportError, match="tls-server-name"):
        asyncio.run(version(kubeconfig("wrong.example")))
    out = _check("--kubeconfig", str(kubeconfig("wrong.example")))
    print(out.stderr)
    assert out.returncode == 2 and "wrong.example" in out.stderr and "tls-server-name" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
