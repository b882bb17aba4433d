"""Expiry and refresh: exec plugins (tokens and client certificates with expirationTimestamp) run again when the
credential expires or the server answers 401, for our REST client and for kopf's login; nothing restarts."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from aiconform.kube import kubeconfig
from aiconform.kube.client import KubeClient, load_credentials
from aiconform.kube.kubeconfig import KubeconfigAuth, Login, LoginError

PLUGIN = """
import datetime, json, pathlib, sys
state = pathlib.Path(sys.argv[1])
n = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(n))
lifetime = float(sys.argv[2])
status = {"token": f"token-{n}"}
if lifetime:
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
    status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
if len(sys.argv) > 3:
    sys.stderr.write("denied by the identity provider\\n"); sys.exit(3)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}))
"""


def exec_kubeconfig(tmp_path: Path, server: str, lifetime: float, *extra: str) -> Path:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin), str(tmp_path / "count"), str(lifetime), *extra],
        }
    }
    kc = tmp_path / "kc"
    kc.write_text(
        yaml.safe_dump(
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return kc


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "count").read_text())


async def test_exec_token_cached_until_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = KubeconfigAuth([exec_kubeconfig(tmp_path, "http://127.0.0.1:1", 3600)])
    first = await auth.login()
    assert first.authorization == "Bearer token-1" and first.expires is not None
    assert await auth.login() is first and runs(tmp_path) == 1  # cached while valid
    later = first.expires - kubeconfig.REFRESH_MARGIN + datetime.timedelta(seconds=1)
    monkeypatch.setattr(kubeconfig, "_now", lambda: later)
    second = await auth.login()
    assert second.authorization == "Bearer token-2" and runs(tmp_path) == 2  # expiring: the plugin ran again


async def test_no_expiry_means_until_401(tmp_path: Path) -> None:
    auth = KubeconfigAuth([exec_kubeconfig(tmp_path, "http://127.0.0.1:1", 0)])
    login = await auth.login()
    assert login.expires is None and await auth.login() is login
    auth.invalidate(Login(server="other"))  # a login that is no longer current: nothing happens
    assert await auth.login() is login
    auth.invalidate(login)
    assert (await auth.login()).authorization == "Bearer token-2"


async def test_plugin_failure_is_one_line(tmp_path: Path) -> None:
    auth = KubeconfigAuth([exec_kubeconfig(tmp_path, "http://127.0.0.1:1", 0, "fail")])
    with pytest.raises(LoginError, match=r"exec: process returned 3\. denied by the identity provider") as exc:
        await auth.login()
    assert "\n" not in str(exc.value)


async def test_kopf_connection_info_expires_with_the_login(tmp_path: Path) -> None:
    auth = KubeconfigAuth([exec_kubeconfig(tmp_path, "http://127.0.0.1:1", 600)])
    info = await auth.connection_info()
    assert info.token == "token-1" and info.expiration is not None and info.auth is auth
    again = await auth.connection_info()  # kopf asks again only after a 401 or expiry: always a fresh one
    assert again.token == "token-2"


async def test_client_refreshes_on_401(tmp_path: Path) -> None:
    accepted = {"Bearer token-2", "Bearer token-3"}
    seen: list[str] = []

    async def version(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        if auth not in accepted:
            return web.json_response({"message": "Unauthorized"}, status=401)
        return web.json_response({"gitVersion": "v1.36.0"})

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        creds = load_credentials(exec_kubeconfig(tmp_path, f"http://127.0.0.1:{port}", 0))
        assert creds.auth is not None and creds.token is None  # the plugin provides it, at the first request
        async with KubeClient(creds) as kube:
            assert (await kube.version())["gitVersion"] == "v1.36.0"  # token-1 refused, token-2 taken
            assert seen == ["Bearer token-1", "Bearer token-2"] and runs(tmp_path) == 2
            await kube.version()
            assert runs(tmp_path) == 2  # no 401, no new login
            accepted.discard("Bearer token-2")  # revoked on the server
            await kube.version()
            assert seen[-2:] == ["Bearer token-2", "Bearer token-3"] and runs(tmp_path) == 3
    finally:
        await runner.cleanup()
