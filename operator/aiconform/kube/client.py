"""A small async REST client: the operator's writes and watches (informer.py), the dev cluster's tooling
(fleet, upstream CRDs, benchmarks) and the one-shot `aiconform check` collector.

These callers need a handful of verbs done fast and in bulk, so a thin aiohttp client with server-side apply
is simpler and quicker than a generated client.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from aiconform.kube import kinds
from aiconform.kube.kubeconfig import Auth, KubeconfigAuth, Login
from aiconform.kube.records import json_default

RETIRE_AFTER = 65.0  # seconds: a replaced pool's requests in flight finish (their timeout is 60 s) before it closes


class KubeTransportError(OSError):
    """The API server could not be reached or did not answer in time (no HTTP status to speak of)."""


class KubeApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


@dataclass(frozen=True)
class Credentials:
    """What a client logs in with. From a kubeconfig (`load_credentials`) or the service account, `auth` is the
    login source (kube/kubeconfig.py) and the client takes its logins from it, refreshed on expiry and on a 401;
    the other fields are what the kubeconfig holds statically (files; None where a plugin provides it)."""

    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token: str | None
    auth: Auth | None = field(default=None, compare=False, repr=False)


def load_credentials(kubeconfig: Path, context: str | None = None) -> Credentials:
    """A context (default: current-context) of a kubeconfig, through the one login (kube/kubeconfig.py)."""
    auth = KubeconfigAuth([kubeconfig], context)
    static = auth.static()
    return Credentials(
        server=auth.server,
        ca_file=static.ca_file,
        cert_file=static.cert_file,
        key_file=static.key_file,
        token=(static.authorization or "").removeprefix("Bearer ") or None,
        auth=auth,
    )


class UnknownKind(ValueError):
    """A kind the registry (kube/kinds.py) does not know: its plural and scope are not guessed."""


def path_for(obj: Mapping[str, Any], *, name: str | None = None, namespace: str | None = None) -> str:
    """The REST path of an object at its own apiVersion (a custom resource may be read at another version than
    the one we write; both address the same object)."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    info = kinds.lookup(api_version, kind)
    if info is None:
        raise UnknownKind(f"kind {kind} ({api_version}) is not in aiconform's kinds registry")
    plural, namespaced = info.plural, info.namespaced
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    ns = namespace or obj.get("metadata", {}).get("namespace")
    if namespaced:
        if not ns:
            raise ValueError(f"{kind} needs a namespace")
        base += f"/namespaces/{ns}"
    base += f"/{plural}"
    name = name if name is not None else obj.get("metadata", {}).get("name")
    return f"{base}/{name}" if name else base


def merge_query(path: str, params: Mapping[str, str] | None) -> tuple[str, dict[str, str] | None]:
    """Move a query written into `path` (`...?labelSelector=a%3Db`) into `params`: some HTTP clients replace a
    URL's query with `params` instead of merging (httpx did: a labelled LIST once listed everything)."""
    if "?" not in path:
        return path, dict(params) if params is not None else None
    bare, query = path.split("?", 1)
    merged = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    clash = sorted(set(merged) & set(params or {}))
    if clash:
        raise ValueError(f"query parameter(s) {', '.join(clash)} given twice for {bare}")
    return bare, {**merged, **(params or {})}


def _raise_for(status: int, raw: bytes) -> None:
    if status < 400:
        return
    try:
        message = json.loads(raw).get("message", raw.decode(errors="replace"))
    except (ValueError, AttributeError):
        message = raw.decode(errors="replace")
    raise KubeApiError(status, message)


class KubeClient:
    """Async client over one connection pool; use `async with KubeClient(creds) as kube:`.

    With a login source (`creds.auth`, or `auth=`), every request takes the current login: its token is sent per
    request, a new client certificate or TLS setting gets a new pool, and a 401 reloads the login and retries
    once. With static parts (`server`, `ssl_context`, `headers`) nothing is refreshed."""

    def __init__(
        self,
        creds: Credentials | None = None,
        *,
        concurrency: int = 32,
        user_agent: str = "aiconform-devcluster",
        server: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
    ) -> None:
        all_headers = {"User-Agent": user_agent, **(headers or {})}
        self._auth = auth or (creds.auth if creds is not None else None)
        if self._auth is not None:
            server = self._auth.server
        elif creds is not None:
            ssl_context = ssl.create_default_context(cafile=creds.ca_file)
            if creds.cert_file and creds.key_file:
                ssl_context.load_cert_chain(creds.cert_file, creds.key_file)
            if creds.token:
                all_headers["Authorization"] = f"Bearer {creds.token}"
            server = creds.server
        if server is None or (ssl_context is None and self._auth is None):
            raise ValueError("KubeClient needs credentials or a server and an SSL context")
        self._server = server.rstrip("/")  # joined by hand: aiohttp's base_url would drop a path prefix
        self._ssl, self._headers, self._concurrency = ssl_context, all_headers, concurrency
        self._session: aiohttp.ClientSession | None = None
        self._transport: tuple[Any, ...] | None = None  # the login's TLS and proxy the session was made with
        self._retired: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(concurrency)

    @property
    def concurrency(self) -> int:
        """Requests in flight at most."""
        return self._concurrency

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the open connections; a later request opens new ones."""
        for task in list(self._retired):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _new_session(self, ssl_context: ssl.SSLContext, proxy: str | None) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (aiohttp binds a session to its loop).
        # aiohttp, not httpx: kopf already brings it, and it is 3-5x cheaper per request on these machines.
        # No connector limit: the semaphore bounds requests, and watches hold a connection each.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=0),
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=60.0, connect=10.0),
            proxy=proxy,
            trust_env=False,  # no proxies from the environment: only the kubeconfig's proxy-url
        )

    async def _http(self) -> tuple[aiohttp.ClientSession, Login | None]:
        """The session and the login to send with it; a login with other TLS settings gets a new session."""
        if self._auth is None:
            if self._session is None:
                assert self._ssl is not None
                self._session = self._new_session(self._ssl, None)
            return self._session, None
        login = await self._auth.login()
        key = login.transport_key()
        if self._session is None or key != self._transport:
            if self._session is not None:  # requests in flight on the old pool finish first
                task = asyncio.create_task(_close_later(self._session, RETIRE_AFTER))
                self._retired.add(task)
                task.add_done_callback(self._retired.discard)
            self._session, self._transport = self._new_session(login.ssl_context(), login.proxy_url), key
        return self._session, login

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        ok_missing: bool = False,
    ) -> dict[str, Any] | None:
        headers = {"Content-Type": content_type or "application/json"} if body is not None else None
        content = json.dumps(body, default=json_default).encode() if body is not None else None
        status, raw = await self._send(method, path, content, headers, params)
        if status == 404 and ok_missing:
            return None
        _raise_for(status, raw)
        out: dict[str, Any] = json.loads(raw) if raw else {}
        return out

    async def get_text(self, path: str) -> str:
        """GET a plain-text endpoint (`/metrics`)."""
        status, raw = await self._send("GET", path, None, None, None)
        _raise_for(status, raw)
        return raw.decode(errors="replace")

    async def get_raw(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET without judging the answer: status and body as they came. For a backend behind the API server's
        proxy (a pod's /metrics), whose errors the caller must tell apart from the API server's own (a Status)."""
        return await self._send("GET", path, None, headers, None)

    async def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        path, query = merge_query(path, params)
        async with self._sem:
            for attempt in (1, 2):
                try:
                    session, login = await self._http()
                    sent = {**(headers or {}), **(login.headers() if login else {})}
                    async with session.request(
                        method, self._server + path, data=content, headers=sent, params=query, allow_redirects=False
                    ) as resp:
                        status, raw = resp.status, await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise KubeTransportError(f"{method} {path}: {_describe(exc)}") from exc
                if status != 401 or self._auth is None or attempt == 2:
                    return status, raw
                self._auth.invalidate(login)  # expired or revoked early: log in again, once
        raise AssertionError("unreachable")

    async def watch(
        self, path: str, params: Mapping[str, str], *, read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request (`watch=1` is added), decoded, until the server ends it. Outside the
        request semaphore: a watch holds its connection for minutes. `read_timeout` catches a dead connection.
        A 401 reloads the login before it is raised, so the caller's retry uses the new one."""
        path, query = merge_query(path, {**params, "watch": "1"})
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=read_timeout)
        try:
            session, login = await self._http()
            sent = login.headers() if login else None
            async with session.get(self._server + path, params=query, timeout=timeout, headers=sent) as resp:
                if resp.status >= 400:
                    if resp.status == 401 and self._auth is not None:
                        self._auth.invalidate(login)
                    _raise_for(resp.status, await resp.read())
                async for line in json_lines(resp.content.iter_any()):
                    yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeTransportError(f"watch {path}: {_describe(exc)}") from exc

    async def get(self, path: str) -> dict[str, Any] | None:
        return await self.request("GET", path, ok_missing=True)

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        subresource: str | None = None,
        force: bool = True,
    ) -> dict[str, Any]:
        """Server-side apply: creates or updates only the fields this manager owns."""
        path = path_for(obj) + (f"/{subresource}" if subresource else "")
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        out = await self.request("PATCH", path, body=obj, content_type="application/apply-patch+yaml", params=params)
        assert out is not None
        return out

    async def list(self, path: str) -> list[dict[str, Any]]:
        """All items of a collection, following `continue` tokens; a missing collection is an empty list."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500"}
        while True:
            page = await self.request("GET", path, params=params, ok_missing=True)
            if page is None:
                return items
            items.extend(page.get("items", []))
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items
            params = {"limit": "500", "continue": token}

    async def create(self, obj: Mapping[str, Any], *, field_manager: str) -> None:
        """POST: fails with 409 when the name is taken, which is how a foreign object is never overwritten.
        The created object is not parsed: the watch brings it, and thousands of decodes add up."""
        body, headers = json.dumps(obj, default=json_default).encode(), {"Content-Type": "application/json"}
        status, raw = await self._send("POST", path_for(obj, name=""), body, headers, {"fieldManager": field_manager})
        _raise_for(status, raw)

    async def delete(self, obj: Mapping[str, Any], *, uid: str | None = None) -> bool:
        """DELETE; with `uid`, only that very object (a same-named successor is left alone)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}} if uid else None
        return await self.request("DELETE", path_for(obj), body=body, ok_missing=True) is not None

    async def version(self) -> dict[str, Any]:
        out = await self.request("GET", "/version")
        assert out is not None
        return out


def _describe(exc: BaseException) -> str:
    """One line; a certificate refused for tls-server-name says so."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError) and "hostname" in str(exc).lower():
        text += " (the server's certificate does not name the host or the kubeconfig's tls-server-name)"
    return text


async def _close_later(session: aiohttp.ClientSession, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        await session.close()


async def json_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Complete lines of a chunked stream. By hand: aiohttp's readline refuses lines over 128 KB, and one
    watch event (a CRD, a ResourceSlice of many devices) can be bigger."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


async def gather_bounded(jobs: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run jobs concurrently (the client's semaphore bounds in-flight requests); re-raise the first error."""
    return list(await asyncio.gather(*jobs))
