"""Kubeconfig → kopf.ConnectionInfo, and one-line errors for what cannot work."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiconform.kube.kubeconfig import KubeconfigError, load_connection_info, resolve_paths

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
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:16443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        **extra,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_client_cert_data_is_decoded(tmp_path: Path) -> None:
    kc = write(
        tmp_path / "kc",
        cluster={"server": "https://127.0.0.1:16443/", "certificate-authority-data": b64(CA)},
        user={"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)},
    )
    info = load_connection_info(kc)
    assert info.server == "https://127.0.0.1:16443"
    assert info.ca_data == CA
    assert info.certificate_data == CERT
    assert info.private_key_data == KEY
    assert info.ca_path is None and info.certificate_path is None and info.token is None
    assert info.default_namespace == "team"
    assert not info.insecure


def test_client_cert_files_relative_to_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    for name, data in (("ca.crt", CA), ("client.crt", CERT), ("client.key", KEY)):
        (tmp_path / "pki" / name).write_bytes(data)
    kc = write(
        tmp_path / "kc",
        cluster={"server": "https://127.0.0.1:1", "certificate-authority": "pki/ca.crt"},
        user={"client-certificate": "pki/client.crt", "client-key": str(tmp_path / "pki" / "client.key")},
    )
    info = load_connection_info(str(kc))
    assert info.ca_path == str(tmp_path / "pki" / "ca.crt")
    assert info.certificate_path == str(tmp_path / "pki" / "client.crt")
    assert info.private_key_path == str(tmp_path / "pki" / "client.key")
    assert info.ca_data is None


def test_token_and_token_file(tmp_path: Path) -> None:
    info = load_connection_info(write(tmp_path / "a", user={"token": "s3cret"}))
    assert info.token == "s3cret"
    assert info.as_http_headers() == {"Authorization": "Bearer s3cret"}
    (tmp_path / "tok").write_text("from-file\n")
    info = load_connection_info(write(tmp_path / "b", user={"tokenFile": "tok"}))
    assert info.token == "from-file"


def test_insecure_and_named_context(tmp_path: Path) -> None:
    kc = write(
        tmp_path / "kc",
        cluster={"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
        user={"token": "t"},
    )
    doc = yaml.safe_load(kc.read_text())
    doc["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "u"}})
    kc.write_text(yaml.safe_dump(doc))
    info = load_connection_info(kc, "other")
    assert info.insecure is True
    assert info.default_namespace is None


def test_merged_paths_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "first", user={"token": "one"})
    second = write(tmp_path / "second", user={"token": "two"})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    paths = resolve_paths(None)
    assert paths == [first, second]
    assert load_connection_info(paths).token == "one"
    assert resolve_paths(str(second)) == [second]


def test_resolve_paths_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert resolve_paths(None) == []


def _error(tmp_path: Path, **kwargs: Any) -> str:
    with pytest.raises(KubeconfigError) as exc:
        load_connection_info(write(tmp_path / "kc", **kwargs))
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_connection_info(tmp_path / "nope")


def test_missing_context(tmp_path: Path) -> None:
    kc = write(tmp_path / "kc", user={"token": "t"})
    with pytest.raises(KubeconfigError, match="no context 'prod'"):
        load_connection_info(kc, "prod")


def test_no_current_context(tmp_path: Path) -> None:
    kc = write(tmp_path / "kc", user={"token": "t"})
    doc = yaml.safe_load(kc.read_text())
    del doc["current-context"]
    kc.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match="no current-context"):
        load_connection_info(kc)


def test_exec_plugin_unsupported(tmp_path: Path) -> None:
    msg = _error(tmp_path, user={"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}})
    assert "exec plugins are not supported" in msg


def test_auth_provider_unsupported(tmp_path: Path) -> None:
    assert "auth-provider" in _error(tmp_path, user={"auth-provider": {"name": "oidc"}})


def test_bad_base64(tmp_path: Path) -> None:
    assert "client-certificate-data is not valid base64" in _error(
        tmp_path, user={"client-certificate-data": "%%%", "client-key-data": b64(KEY)}
    )


def test_cert_without_key(tmp_path: Path) -> None:
    assert "both the certificate and the key" in _error(tmp_path, user={"client-certificate-data": b64(CERT)})


def test_missing_referenced_file(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path, user={"tokenFile": "absent"})


def test_bad_server(tmp_path: Path) -> None:
    assert "server must be an http(s) URL" in _error(tmp_path, user={}, cluster={"server": "127.0.0.1:6443"})


def test_not_yaml(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text("{: nope")
    with pytest.raises(KubeconfigError, match="not valid YAML"):
        load_connection_info(kc)


def test_secrets_not_in_errors(tmp_path: Path) -> None:
    msg = _error(tmp_path, user={"token": "s3cret", "exec": {"command": "x"}})
    assert "s3cret" not in msg
