"""A small async REST client: the operator's writes and watches (informer.py), the dev cluster's tooling
(fleet, upstream CRDs, benchmarks) and the one-shot `aiconform check` collector.

These callers need a handful of verbs done fast and in bulk, so a thin aiohttp client with server-side apply
is simpler and quicker than a generated client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from aiconform.kube import kinds


class KubeTransportError(OSError):
    """The API server could not be reached or did not answer in time (no HTTP status to speak of)."""


class KubeApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token: str | None


def load_credentials(kubeconfig: Path) -> Credentials:
    """Current context of a kubeconfig; inline -data fields are written to private temp files for ssl."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    ctx_name = cfg.get("current-context")
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])

    def path_or_data(obj: Mapping[str, Any], key: str) -> str | None:
        if obj.get(key):
            return str(obj[key])
        data = obj.get(f"{key}-data")
        if not data:
            return None
        with tempfile.NamedTemporaryFile(delete=False, prefix="aiconform-", suffix=".pem") as f:
            f.write(base64.b64decode(data))
            return f.name

    return Credentials(
        server=cluster["server"],
        ca_file=path_or_data(cluster, "certificate-authority"),
        cert_file=path_or_data(user, "client-certificate"),
        key_file=path_or_data(user, "client-key"),
        token=user.get("token"),
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
    """Async client over one connection pool; use `async with KubeClient(creds) as kube:`."""

    def __init__(
        self,
        creds: Credentials | None = None,
        *,
        concurrency: int = 32,
        user_agent: str = "aiconform-devcluster",
        server: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """From kubeconfig `creds`, or from parts (the operator passes what kopf's login produced)."""
        all_headers = {"User-Agent": user_agent, **(headers or {})}
        if creds is not None:
            ssl_context = ssl.create_default_context(cafile=creds.ca_file)
            if creds.cert_file and creds.key_file:
                ssl_context.load_cert_chain(creds.cert_file, creds.key_file)
            if creds.token:
                all_headers["Authorization"] = f"Bearer {creds.token}"
            server = creds.server
        if server is None or ssl_context is None:
            raise ValueError("KubeClient needs credentials or a server and an SSL context")
        self._server = server.rstrip("/")  # joined by hand: aiohttp's base_url would drop a path prefix
        self._ssl, self._headers, self._concurrency = ssl_context, all_headers, concurrency
        self._session: aiohttp.ClientSession | None = None
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
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (aiohttp binds a session to its loop).
        # aiohttp, not httpx: kopf already brings it, and it is 3-5x cheaper per request on these machines.
        if self._session is None:
            # No connector limit: the semaphore bounds requests, and watches hold a connection each.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=60.0, connect=10.0),
                trust_env=False,  # no proxies from the environment
            )
        return self._session

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
        content = json.dumps(body).encode() if body is not None else None
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
            try:
                async with self._http().request(
                    method, self._server + path, data=content, headers=headers, params=query, allow_redirects=False
                ) as resp:
                    return resp.status, await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise KubeTransportError(f"{method} {path}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def watch(
        self, path: str, params: Mapping[str, str], *, read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request (`watch=1` is added), decoded, until the server ends it. Outside the
        request semaphore: a watch holds its connection for minutes. `read_timeout` catches a dead connection."""
        path, query = merge_query(path, {**params, "watch": "1"})
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=read_timeout)
        try:
            async with self._http().get(self._server + path, params=query, timeout=timeout) as resp:
                if resp.status >= 400:
                    _raise_for(resp.status, await resp.read())
                async for line in json_lines(resp.content.iter_any()):
                    yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeTransportError(f"watch {path}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc

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
        body, headers = json.dumps(obj).encode(), {"Content-Type": "application/json"}
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
