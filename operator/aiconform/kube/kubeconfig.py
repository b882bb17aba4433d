"""Read a kubeconfig into the `kopf.ConnectionInfo` the operator logs in with.

kopf ships a minimal kubeconfig login, but it ignores tokenFile, resolves relative paths against the working
directory instead of the kubeconfig's, and fails with a KeyError on a missing context. This module does those
right and refuses, in one line, what it cannot do (exec and auth-provider plugins).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf
import yaml

PRIORITY = 30  # above kopf's built-in logins, should any ever be registered alongside ours


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message is one line and names the file and the field."""


def resolve_paths(explicit: str | None) -> list[Path]:
    """--kubeconfig wins, then $KUBECONFIG (a path list, merged like kubectl does); [] means neither is set."""
    raw = explicit or os.environ.get("KUBECONFIG", "")
    return [Path(os.path.expanduser(p.strip())) for p in raw.split(os.pathsep) if p.strip()]


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {path} does not exist") from None
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    return data


def _named(data: Mapping[str, Any], section: str, key: str, path: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Map name → (entry, file it came from), so relative paths resolve against the right file."""
    out: dict[str, tuple[dict[str, Any], Path]] = {}
    for item in data.get(section) or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out[item["name"]] = (item.get(key) or {}, path)
    return out


def _file(entry: Mapping[str, Any], field: str, base: Path, where: str) -> str | None:
    value = entry.get(field)
    if not value:
        return None
    full = Path(os.path.expanduser(str(value)))
    if not full.is_absolute():
        full = base.parent / full
    if not full.is_file():
        raise KubeconfigError(f"{where}: {field} {full} does not exist")
    return str(full)


def _data(entry: Mapping[str, Any], field: str, where: str) -> bytes | None:
    value = entry.get(field)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where}: {field} is not valid base64") from None


def load_connection_info(
    paths: list[Path] | str | os.PathLike[str],
    context: str | None = None,
    *,
    trust_env: bool = False,
) -> kopf.ConnectionInfo:
    """Build the ConnectionInfo for `context` (default: current-context) of the given kubeconfig file(s)."""
    files = resolve_paths(os.fspath(paths)) if isinstance(paths, str | os.PathLike) else paths
    if not files:
        raise KubeconfigError("no kubeconfig given")
    # Merge like kubectl: for each name, and for current-context, the first file that sets it wins.
    current: str | None = None
    contexts: dict[str, tuple[dict[str, Any], Path]] = {}
    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    users: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in files:
        data = _read(path)
        current = current or data.get("current-context") or None
        for store, section, key in ((contexts, "contexts", "context"), (clusters, "clusters", "cluster")):
            store.update({k: v for k, v in _named(data, section, key, path).items() if k not in store})
        users.update({k: v for k, v in _named(data, "users", "user", path).items() if k not in users})

    shown = ", ".join(str(p) for p in files)
    name = context or current
    if not name:
        raise KubeconfigError(f"kubeconfig {shown} has no current-context; pass a context name")
    if name not in contexts:
        raise KubeconfigError(f"kubeconfig {shown} has no context {name!r}")
    ctx, _ = contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in clusters:
        raise KubeconfigError(f"kubeconfig {shown}: context {name!r} names unknown cluster {cluster_name!r}")
    cluster, cluster_file = clusters[str(cluster_name)]
    if user_name and user_name not in users:
        raise KubeconfigError(f"kubeconfig {shown}: context {name!r} names unknown user {user_name!r}")
    # A context without a user is anonymous access (e.g. a local insecure port).
    user, user_file = users[str(user_name)] if user_name else ({}, files[0])

    where_c, where_u = f"{cluster_file} cluster {cluster_name!r}", f"{user_file} user {user_name!r}"
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{where_c}: server must be an http(s) URL, got {server!r}")
    for plugin in ("exec", "auth-provider"):
        if user.get(plugin):
            raise KubeconfigError(
                f"{where_u}: {plugin} plugins are not supported; use a token, tokenFile or client certificate"
            )

    cert_path = _file(user, "client-certificate", user_file, where_u)
    key_path = _file(user, "client-key", user_file, where_u)
    cert_data = None if cert_path else _data(user, "client-certificate-data", where_u)
    key_data = None if key_path else _data(user, "client-key-data", where_u)
    if bool(cert_path or cert_data) != bool(key_path or key_data):
        raise KubeconfigError(f"{where_u}: a client certificate needs both the certificate and the key")

    token = user.get("token") or None
    token_file = _file(user, "tokenFile", user_file, where_u)
    if not token and token_file:
        # Read at every login, so a rotated projected token is picked up when kopf re-authenticates on 401.
        token = Path(token_file).read_text(encoding="utf-8").strip() or None

    ca_path = _file(cluster, "certificate-authority", cluster_file, where_c)
    ca_data = None if ca_path else _data(cluster, "certificate-authority-data", where_c)
    return kopf.ConnectionInfo(
        server=server.rstrip("/"),
        ca_path=ca_path,
        ca_data=ca_data,
        insecure=bool(cluster.get("insecure-skip-tls-verify")) or None,
        certificate_path=cert_path,
        certificate_data=cert_data,
        private_key_path=key_path,
        private_key_data=key_data,
        token=str(token) if token else None,
        username=user.get("username") or None,
        password=user.get("password") or None,
        default_namespace=ctx.get("namespace") or None,
        proxy_url=cluster.get("proxy-url") or None,
        trust_env=trust_env,
        priority=PRIORITY,
    )
