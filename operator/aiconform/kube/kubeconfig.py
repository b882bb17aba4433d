"""The one way to log in, for every client: the operator's passes, repairs and informers, kopf's own login,
`aiconform check`/`export` and the dev tools.

`Auth` is a source of logins: a kubeconfig (files merged as kubectl does, a context chosen with `--context`) or
the pod's service account. `await auth.login()` gives the current `Login` (server, TLS, Authorization), loaded
through kubernetes-asyncio's kubeconfig loader (token, tokenFile, exec plugins returning tokens or client
certificates, the OIDC auth-provider, username/password) and reloaded when it expires or after a 401
(`auth.invalidate(login)`). Only `kubernetes_asyncio.config` is imported, never its generated API client (see
`_import_loader`): requests are made by kube/client.py over aiohttp.

What this module checks itself, with one-line errors naming the file and the field: the merge (for each name, and
for current-context, the first file that sets it wins; relative paths resolve against the file that holds them),
missing contexts, clusters, users and files, the server URL. Impersonation (`as`, `as-groups`, ...) is refused:
aiconform acts as the credentials' own identity everywhere, and kopf's client could not send the headers.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import dataclasses
import datetime
import os
import shutil
import ssl
import tempfile
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf
import yaml

from aiconform.kube import lazyk8s

PRIORITY = 30  # above kopf's built-in logins, should any ever be registered alongside ours
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REFRESH_MARGIN = datetime.timedelta(seconds=5)  # reload a login this long before it expires
REREAD_FILES_EVERY = datetime.timedelta(minutes=1)  # tokenFile and the service account token: rotated on disk
IMPERSONATION_FIELDS = ("as", "as-uid", "as-groups", "as-user-extra")
_PATH_FIELDS = {"cluster": ("certificate-authority",), "user": ("client-certificate", "client-key", "tokenFile")}
_DATA_FIELDS = {
    "cluster": ("certificate-authority-data",),
    "user": ("client-certificate-data", "client-key-data"),
}


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message is one line and names the file and the field."""


class LoginError(Exception):
    """Logging in failed at run time (an exec plugin failed, an OIDC refresh was refused); one line."""


# --- kubernetes-asyncio, config loading only -------------------------------------------------------------------


lazyk8s.import_config()  # before the imports below: kubernetes-asyncio's config without its API client
from kubernetes_asyncio.config.config_exception import ConfigException  # noqa: E402
from kubernetes_asyncio.config.dateutil import parse_rfc3339  # noqa: E402
from kubernetes_asyncio.config.exec_provider import ExecProvider  # noqa: E402
from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader  # noqa: E402
from kubernetes_asyncio.config.kube_config import KubeConfigLoader  # noqa: E402


class _Loader(KubeConfigLoader):
    """kubernetes-asyncio's loader, with the expiry of exec credentials kept for certificates too (it keeps it for
    tokens only) and without its own cache: `Auth` decides when to run the plugin again."""

    exec_expiry: datetime.datetime | None = None
    write: Any = None  # (name, bytes) -> path of a private file
    cert_file: str | None
    key_file: str | None

    async def load_from_exec_plugin(self) -> bool:
        assert self._user is not None
        status = await ExecProvider(self._user["exec"]).run()
        if status.get("expirationTimestamp"):
            self.exec_expiry = parse_rfc3339(status["expirationTimestamp"])
        if status.get("token"):
            self.token = f"Bearer {status['token']}"
            return True
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            self.cert_file = self.write("exec-client.crt", str(status["clientCertificateData"]).encode())
            self.key_file = self.write("exec-client.key", str(status["clientKeyData"]).encode())
            return True
        raise ConfigException("exec: the plugin returned neither a token nor clientCertificateData and clientKeyData")


# --- what a login is -------------------------------------------------------------------------------------------


class _ServerNameContext(ssl.SSLContext):
    """TLS that sends and verifies `tls_server_name` instead of the URL's host (kubeconfig `tls-server-name`), for
    any client that connects through asyncio (aiohttp: ours and kopf's)."""

    tls_server_name = ""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        kwargs["server_hostname"] = self.tls_server_name
        if len(args) > 3:
            args = args[:3]
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.tls_server_name
        return super().wrap_socket(*args, **kwargs)


@dataclasses.dataclass(frozen=True)
class Login:
    """One set of credentials, as loaded at one moment. Files only: the loader writes inline data to private
    temp files, as Python's ssl needs."""

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    authorization: str | None = None  # the whole header value: "Bearer …" or "Basic …"
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    namespace: str | None = None
    expires: datetime.datetime | None = None  # timezone-aware; None: until the server says 401

    def __repr__(self) -> str:  # never the token
        return f"Login(server={self.server!r}, expires={self.expires})"

    def expiring(self, now: datetime.datetime | None = None) -> bool:
        if self.expires is None:
            return False
        return (now or _now()) >= self.expires - REFRESH_MARGIN

    def transport_key(self) -> tuple[Any, ...]:
        """What a connection pool is built from: a change here needs new connections, a new token does not."""
        return (self.server, self.ca_file, self.cert_file, self.key_file, self.insecure, self.tls_server_name,
                self.proxy_url)  # fmt: skip

    def ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext
        if self.tls_server_name:
            context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
            context.tls_server_name = self.tls_server_name
            if self.ca_file:
                context.load_verify_locations(cafile=self.ca_file)
            else:
                context.load_default_certs()
        else:
            context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KopfLogin(kopf.ConnectionInfo):
    """kopf's ConnectionInfo for a `Login`: kopf builds its session from `as_ssl_context()` and
    `as_http_headers()`, so tls-server-name holds for kopf's requests too. `auth` lets our own clients share it."""

    login: Login | None = dataclasses.field(default=None, compare=False, repr=False)
    auth: Auth | None = dataclasses.field(default=None, compare=False, repr=False)

    def as_ssl_context(self) -> ssl.SSLContext:
        return self.login.ssl_context() if self.login is not None else super().as_ssl_context()


# --- where logins come from ------------------------------------------------------------------------------------


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


def _entry(item: Mapping[str, Any], key: str, path: Path, where: str) -> dict[str, Any]:
    """A copy of one cluster or user with its file paths made absolute against the file that holds it."""
    entry = dict(item.get(key) or {})
    for field in _PATH_FIELDS.get(key, ()):
        value = entry.get(field)
        if value and not entry.get(f"{field}-data") and not (field == "tokenFile" and entry.get("token")):
            full = Path(os.path.expanduser(str(value)))
            full = full if full.is_absolute() else path.parent / full
            if not full.is_file():
                raise KubeconfigError(f"{where}: {field} {full} does not exist")
            entry[field] = str(full)
    for field in _DATA_FIELDS.get(key, ()):
        if entry.get(field):
            try:
                base64.b64decode(str(entry[field]), validate=True)
            except (binascii.Error, ValueError):
                raise KubeconfigError(f"{where}: {field} is not valid base64") from None
    return entry


def merge(paths: list[Path]) -> dict[str, Any]:
    """The kubeconfig files merged as kubectl does: for each name, and for current-context, the first file that
    sets it wins; every relative path made absolute against its own file. A missing file is an error."""
    merged: dict[str, Any] = {"current-context": None, "contexts": [], "clusters": [], "users": [], "files": {}}
    for path in paths:
        data = _read(path)
        merged["current-context"] = merged["current-context"] or data.get("current-context") or None
        for section, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            seen = {item["name"] for item in merged[section]}
            for item in data.get(section) or []:
                if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"] not in seen:
                    seen.add(item["name"])
                    where = f"{path} {key} {item['name']!r}"
                    value = dict(item.get(key) or {}) if key == "context" else _entry(item, key, path, where)
                    merged[section].append({"name": item["name"], key: value})
                    merged["files"][(key, item["name"])] = path
    return merged


def _named(merged: Mapping[str, Any], section: str, key: str, name: str) -> dict[str, Any] | None:
    return next((dict(i[key]) for i in merged[section] if i["name"] == name), None)


class Auth:
    """A source of logins; `await login()` gives the current one, reloaded on expiry or after `invalidate`."""

    def __init__(self, description: str, server: str) -> None:
        self.description = description
        self.server = server
        self._current: Login | None = None
        self._stale = False
        self._lock: asyncio.Lock | None = None
        self.loads = 0  # how often credentials were loaded (tests, logs)

    async def login(self) -> Login:
        current = self._current
        if current is not None and not self._stale and not current.expiring():
            return current
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            current = self._current
            if current is None or self._stale or current.expiring():
                self._current, self._stale = await self._load(), False
                self.loads += 1
            assert self._current is not None
            return self._current

    def invalidate(self, login: Login | None) -> None:
        """The server refused `login` (401): the next `login()` loads anew, unless that already happened."""
        if login is None or login is self._current:
            self._stale = True

    async def _load(self) -> Login:
        raise NotImplementedError

    async def connection_info(self, *, trust_env: bool = False) -> KopfLogin:
        """For kopf's login handler: always a fresh load (kopf asks again only on expiry or a 401)."""
        self.invalidate(None)
        login = await self.login()
        scheme, _, token = (login.authorization or "").partition(" ")
        return KopfLogin(
            server=login.server,
            ca_path=login.ca_file,
            insecure=login.insecure or None,
            certificate_path=login.cert_file,
            private_key_path=login.key_file,
            scheme=scheme or None,
            token=token or None,
            default_namespace=login.namespace,
            proxy_url=login.proxy_url,
            trust_env=trust_env,
            priority=PRIORITY,
            expiration=login.expires - REFRESH_MARGIN if login.expires else None,
            login=login,
            auth=self,
        )


class KubeconfigAuth(Auth):
    """A context of kubeconfig files; the structure is checked here, at once, before anything runs."""

    def __init__(self, paths: list[Path], context: str | None = None, *, temp_dir: Path | None = None) -> None:
        if not paths:
            raise KubeconfigError("no kubeconfig given")
        merged = merge(paths)
        shown = ", ".join(str(p) for p in paths)
        name = context or merged["current-context"]
        if not name:
            raise KubeconfigError(f"kubeconfig {shown} has no current-context; pass --context")
        ctx = _named(merged, "contexts", "context", name)
        if ctx is None:
            known = ", ".join(sorted(i["name"] for i in merged["contexts"])) or "none"
            raise KubeconfigError(f"kubeconfig {shown} has no context {name!r} (contexts: {known})")
        cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
        cluster = _named(merged, "clusters", "cluster", str(cluster_name))
        if cluster is None:
            raise KubeconfigError(f"kubeconfig {shown}: context {name!r} names unknown cluster {cluster_name!r}")
        where_c = f"{merged['files'][('cluster', cluster_name)]} cluster {cluster_name!r}"
        server = cluster.get("server")
        if not isinstance(server, str) or not server.startswith(("https://", "http://")):
            raise KubeconfigError(f"{where_c}: server must be an http(s) URL, got {server!r}")
        proxy = cluster.get("proxy-url")
        if proxy and not str(proxy).startswith(("http://", "https://")):
            raise KubeconfigError(f"{where_c}: proxy-url {proxy!r} is not supported; use an http(s) proxy")
        user: dict[str, Any] = {}
        if user_name:  # a context without a user is anonymous access
            found = _named(merged, "users", "user", str(user_name))
            if found is None:
                raise KubeconfigError(f"kubeconfig {shown}: context {name!r} names unknown user {user_name!r}")
            user = found
            self._check_user(user, f"{merged['files'][('user', user_name)]} user {user_name!r}")
        super().__init__(f"kubeconfig {shown} context {name!r}", server.rstrip("/"))
        self.context = name
        # The loader's own view: only this context, with absolute paths.
        self._cluster, self._user = cluster, user
        self._namespace: str | None = ctx.get("namespace") or None
        self._config: dict[str, Any] = {
            "current-context": name,
            "contexts": [{"name": name, "context": ctx}],
            "clusters": [{"name": cluster_name, "cluster": cluster}],
            "users": [{"name": user_name, "user": user}] if user_name else [],
        }
        self._rereads = bool(user.get("tokenFile") and not user.get("token"))
        self._temp_dir, self._materialised, self._written = temp_dir, False, 0

    def _write(self, name: str, data: bytes) -> str:
        """A private file (0600) in this login's temp dir (the caller's, else one removed at exit)."""
        if self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="aiconform-login-"))
            atexit.register(shutil.rmtree, self._temp_dir, True)
        self._written += 1
        path = self._temp_dir / f"{self._written}-{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return str(path)

    def _materialise(self) -> None:
        """Inline -data fields become files once (Python's ssl reads files), so the loader sees paths only."""
        if self._materialised:
            return
        for entry, key in ((self._cluster, "cluster"), (self._user, "user")):
            for field in _DATA_FIELDS[key]:
                if entry.get(field):
                    base = field.removesuffix("-data")
                    entry[base] = self._write(base, base64.b64decode(str(entry.pop(field))))
        self._materialised = True

    @staticmethod
    def _check_user(user: Mapping[str, Any], where: str) -> None:
        asked = [f for f in IMPERSONATION_FIELDS if user.get(f)]
        if asked:
            raise KubeconfigError(
                f"{where}: impersonation ({', '.join(asked)}) is not supported: aiconform acts as the credentials' "
                "own identity; remove it, or use a user that is that identity"
            )
        provider = (user.get("auth-provider") or {}).get("name")
        if user.get("auth-provider") and provider != "oidc":
            raise KubeconfigError(
                f"{where}: auth-provider {provider!r} is not supported (only oidc); use the provider's exec plugin "
                "(gke-gcloud-auth-plugin, kubelogin)"
            )
        has_cert = bool(user.get("client-certificate") or user.get("client-certificate-data"))
        has_key = bool(user.get("client-key") or user.get("client-key-data"))
        if has_cert != has_key:
            raise KubeconfigError(f"{where}: a client certificate needs both the certificate and the key")
        exec_cfg = user.get("exec")
        if exec_cfg and not (isinstance(exec_cfg, dict) and exec_cfg.get("command") and exec_cfg.get("apiVersion")):
            raise KubeconfigError(f"{where}: exec needs a command and an apiVersion")

    def static(self) -> Login:
        """What the kubeconfig holds without running anything (no plugin, no refresh): the dev tools' view, whose
        kubeconfigs hold files or inline data. Inline data goes to private temp files."""
        self._materialise()
        cluster, user = self._cluster, self._user
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = _read_optional(Path(user["tokenFile"]))
        return Login(
            server=self.server,
            ca_file=cluster.get("certificate-authority"),
            cert_file=user.get("client-certificate"),
            key_file=user.get("client-key"),
            authorization=f"Bearer {token}" if token else None,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            tls_server_name=cluster.get("tls-server-name") or None,
            proxy_url=cluster.get("proxy-url") or None,
        )

    async def _load(self) -> Login:
        self._materialise()
        loader = _Loader(self._config, active_context=self.context, config_base_path=None)
        loader.write = self._write
        target = types.SimpleNamespace(api_key={})
        try:
            await loader.load_and_set(target)
        except (ConfigException, ValueError, OSError, KeyError) as exc:
            raise LoginError(f"{self.description}: {_one_line(exc)}") from None
        authorization = (target.api_key.get("BearerToken") or "").strip() or None  # a tokenFile's newline
        expires = loader.exec_expiry
        if self._rereads and expires is None:
            expires = _now() + REREAD_FILES_EVERY
        if loader.provider == "oidc" and authorization:
            expires = expires or _jwt_expiry(authorization.partition(" ")[2])
        return Login(
            server=str(getattr(target, "host", self.server)),
            ca_file=getattr(target, "ssl_ca_cert", None),
            cert_file=getattr(target, "cert_file", None),
            key_file=getattr(target, "key_file", None),
            authorization=authorization,
            insecure=not getattr(target, "verify_ssl", True),
            tls_server_name=getattr(target, "tls_server_name", None),
            proxy_url=getattr(target, "proxy", None),
            namespace=self._namespace,
            expires=expires,
        )


class ServiceAccountAuth(Auth):
    """The pod's service account; the token (rotated by the kubelet) and the CA are read again every minute."""

    def __init__(self, directory: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port or not (directory / "token").is_file():
            raise KubeconfigError("no credentials: pass --kubeconfig or set $KUBECONFIG (in a pod, the service "
                                  "account is used)")  # fmt: skip
        self.directory, self._env = directory, dict(env)
        server = "https://" + (f"[{host}]" if ":" in host else host) + f":{port}"
        super().__init__(f"the pod's service account ({directory})", server)

    async def _load(self) -> Login:
        loader = InClusterConfigLoader(str(self.directory / "token"), str(self.directory / "ca.crt"),
                                       environ=self._env)  # fmt: skip
        try:
            loader._load_config()
        except (ConfigException, OSError) as exc:
            raise LoginError(f"{self.description}: {_one_line(exc)}") from None
        return Login(
            server=loader.host,
            ca_file=loader.ssl_ca_cert,
            authorization=str(loader.token).strip(),
            namespace=_read_optional(self.directory / "namespace"),
            expires=_now() + REREAD_FILES_EVERY,
        )


def resolve(kubeconfig: str | None = None, context: str | None = None, *, temp_dir: Path | None = None) -> Auth:
    """--kubeconfig, else $KUBECONFIG, else the pod's service account; a KubeconfigError says what is missing.
    Inline certificate data goes to files in `temp_dir` (default: a private one removed at exit)."""
    paths = resolve_paths(kubeconfig)
    if paths:
        return KubeconfigAuth(paths, context, temp_dir=temp_dir)
    if context:
        raise KubeconfigError(f"--context {context!r} needs a kubeconfig: pass --kubeconfig or set $KUBECONFIG")
    return ServiceAccountAuth()


def _read_optional(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _jwt_expiry(token: str) -> datetime.datetime | None:
    try:
        payload = token.split(".")[1]
        exp = yaml.safe_load(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("exp")
        return datetime.datetime.fromtimestamp(int(exp), datetime.UTC) if exp else None
    except (IndexError, ValueError, TypeError, AttributeError, yaml.YAMLError):
        return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
