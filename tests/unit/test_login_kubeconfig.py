"""The one login (kube/kubeconfig.py): kubeconfig merging as kubectl does, contexts, TLS options, what is refused,
each with a one-line error naming the file and the field."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiconform.kube.kubeconfig import (
    KopfLogin,
    KubeconfigAuth,
    KubeconfigError,
    ServiceAccountAuth,
    _ServerNameContext,
    resolve,
    resolve_paths,
)

CA = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, *, user: dict[str, Any], cluster: dict[str, Any] | None = None, **extra: Any) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "http://127.0.0.1:16443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        **extra,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def error(tmp_path: Path, context: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(KubeconfigError) as exc:
        KubeconfigAuth([write(tmp_path / "kc", **kwargs)], context)
    message = str(exc.value)
    assert "\n" not in message
    return message


async def test_inline_data_become_private_files(tmp_path: Path) -> None:
    kc = write(
        tmp_path / "kc",
        cluster={"server": "https://127.0.0.1:16443/", "certificate-authority-data": b64(CA)},
        user={"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)},
    )
    auth = KubeconfigAuth([kc], temp_dir=tmp_path / "t")
    (tmp_path / "t").mkdir()
    login = await auth.login()
    assert login.server == "https://127.0.0.1:16443" and login.namespace == "team"
    assert login.ca_file and login.cert_file and login.key_file
    files = [Path(login.ca_file), Path(login.cert_file), Path(login.key_file)]
    assert [f.read_bytes() for f in files] == [CA, CERT, KEY]
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    assert login.authorization is None and not login.insecure and login.expires is None


async def test_relative_files_resolve_against_their_own_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / "pki" / name).write_bytes(CA)
    sub = tmp_path / "sub"
    sub.mkdir()
    # users from a file in another directory: its relative paths resolve against that file, not the first one
    users = sub / "users"
    (sub / "pki").mkdir()
    (sub / "pki" / "tok").write_text("from-file\n")
    users.write_text(yaml.safe_dump({"users": [{"name": "u", "user": {"tokenFile": "pki/tok"}}]}))
    main = write(tmp_path / "kc", user={}, cluster={"server": "https://h:1", "certificate-authority": "pki/ca.crt"})
    doc = yaml.safe_load(main.read_text())
    doc["users"] = []
    main.write_text(yaml.safe_dump(doc))
    login = await KubeconfigAuth([main, users]).login()
    assert login.ca_file == str(tmp_path / "pki" / "ca.crt")
    assert login.authorization == "Bearer from-file"
    assert login.expires is not None  # a tokenFile is read again (rotated projected tokens)


async def test_merge_like_kubectl_first_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "first", user={"token": "one"})
    second = write(tmp_path / "second", user={"token": "two"}, **{"current-context": "other"})
    doc = yaml.safe_load(second.read_text())
    doc["contexts"].append({"name": "other", "context": {"cluster": "c2", "user": "u2"}})
    doc["clusters"].append({"name": "c2", "cluster": {"server": "http://other:1"}})
    doc["users"].append({"name": "u2", "user": {"token": "three"}})
    second.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert resolve_paths(None) == [first, second]
    auth = resolve()  # current-context of the first file that sets one: dev; user u of the first file
    assert isinstance(auth, KubeconfigAuth) and auth.context == "dev"
    assert (await auth.login()).authorization == "Bearer one"
    other = resolve(None, "other")  # a context only the second file has
    assert other.server == "http://other:1" and (await other.login()).authorization == "Bearer three"
    assert resolve_paths(str(second)) == [second]


def test_unknown_context_names_the_known_ones(tmp_path: Path) -> None:
    assert "no context 'prod' (contexts: dev)" in error(tmp_path, "prod", user={"token": "t"})


def test_no_current_context_asks_for_context(tmp_path: Path) -> None:
    kc = write(tmp_path / "kc", user={"token": "t"})
    doc = yaml.safe_load(kc.read_text())
    del doc["current-context"]
    kc.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match="no current-context; pass --context"):
        KubeconfigAuth([kc])


def test_context_without_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(KubeconfigError, match="--context 'x' needs a kubeconfig"):
        resolve(None, "x")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="does not exist"):
        KubeconfigAuth([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("user", "words"),
    [
        ({"token": "s3cret", "as": "admin"}, "impersonation (as) is not supported"),
        ({"token": "s3cret", "as-groups": ["system:masters"]}, "impersonation (as-groups) is not supported"),
        ({"auth-provider": {"name": "gcp"}}, "auth-provider 'gcp' is not supported (only oidc)"),
        ({"client-certificate-data": b64(CERT)}, "both the certificate and the key"),
        (
            {"client-certificate-data": "%%%", "client-key-data": b64(KEY)},
            "client-certificate-data is not valid base64",
        ),
        ({"tokenFile": "absent"}, "tokenFile"),
        ({"exec": {"command": "x"}}, "exec needs a command and an apiVersion"),
    ],
)
def test_refused_in_one_line_without_secrets(tmp_path: Path, user: dict[str, Any], words: str) -> None:
    message = error(tmp_path, user=user)
    assert words in message and "s3cret" not in message


def test_bad_server_and_proxy(tmp_path: Path) -> None:
    assert "server must be an http(s) URL" in error(tmp_path, user={}, cluster={"server": "127.0.0.1:6443"})
    socks = error(tmp_path, user={}, cluster={"server": "https://h:1", "proxy-url": "socks5://p:1080"})
    assert "proxy-url 'socks5://p:1080' is not supported" in socks


async def test_tls_server_name_proxy_insecure(tmp_path: Path) -> None:
    kc = write(
        tmp_path / "kc",
        user={"token": "t"},
        cluster={"server": "https://10.0.0.1:6443", "tls-server-name": "api.internal", "proxy-url": "http://p:3128"},
    )
    login = await KubeconfigAuth([kc]).login()
    assert login.tls_server_name == "api.internal" and login.proxy_url == "http://p:3128"
    context = login.ssl_context()
    assert isinstance(context, _ServerNameContext) and context.tls_server_name == "api.internal"
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    # whatever host the URL names, the handshake asks for and verifies api.internal
    obj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="10.0.0.1")
    assert obj.server_hostname == "api.internal"
    info = await KubeconfigAuth([kc]).connection_info()
    assert isinstance(info, KopfLogin) and isinstance(info.as_ssl_context(), _ServerNameContext)
    assert info.proxy_url == "http://p:3128" and info.as_http_headers() == {"Authorization": "Bearer t"}

    insecure = write(tmp_path / "kc2", user={}, cluster={"server": "https://h:1", "insecure-skip-tls-verify": True})
    login = await KubeconfigAuth([insecure]).login()
    assert login.insecure and login.ssl_context().verify_mode == ssl.CERT_NONE


async def test_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "namespace").write_text("aiconform-system")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    auth = ServiceAccountAuth(tmp_path, env)
    login = await auth.login()
    assert login.server == "https://[fd00::1]:443" and login.authorization == "Bearer sa-token"
    assert login.namespace == "aiconform-system" and login.expires is not None  # read again every minute
    (tmp_path / "token").write_text("rotated")
    auth.invalidate(login)
    assert (await auth.login()).authorization == "Bearer rotated"
    with pytest.raises(KubeconfigError, match="no credentials"):
        ServiceAccountAuth(tmp_path / "absent", env)
