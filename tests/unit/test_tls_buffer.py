"""The operator reads TLS through a 32-KiB buffer per connection (operator/runner.small_tls_buffers, asyncio's
default is 256 KiB): a body far larger than the buffer, in one response and as a stream of lines, arrives whole
over a real TLS connection on loopback."""

from __future__ import annotations

import asyncio
import json
import ssl
from asyncio import sslproto
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from aiconform.devtools.devcluster.pki import ensure_pki
from aiconform.operator.runner import TLS_READ_BUFFER, small_tls_buffers


@pytest.fixture
def small_buffers() -> Iterator[None]:
    default = sslproto.SSLProtocol.max_size
    small_tls_buffers()
    yield
    sslproto.SSLProtocol.max_size = default


async def test_large_bodies_arrive_whole_through_the_small_tls_buffer(small_buffers: None, tmp_path: Path) -> None:
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER < 256 * 1024
    pki = ensure_pki(tmp_path, {})
    items = [{"metadata": {"name": f"ns-{i:05d}", "labels": {"x": "y" * 40}}} for i in range(20_000)]
    page = json.dumps({"items": items}).encode()  # ~1.7 MB
    lines = [json.dumps({"type": "ADDED", "object": item}).encode() + b"\n" for item in items]

    async def listing(_: web.Request) -> web.Response:
        return web.Response(body=page, content_type="application/json")

    async def watching(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(0, len(lines), 1000):
            await resp.write(b"".join(lines[i : i + 1000]))
        await resp.write_eof()
        return resp

    app = web.Application()
    app.add_routes([web.get("/list", listing), web.get("/watch", watching)])
    runner = web.AppRunner(app)
    await runner.setup()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(pki.serving_crt, pki.serving_key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client_ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as session:
            async with session.get(f"https://127.0.0.1:{port}/list") as resp:
                assert await resp.read() == page
            received = b""
            async with session.get(f"https://127.0.0.1:{port}/watch") as resp:
                async for chunk in resp.content.iter_any():
                    received += chunk
            assert received == b"".join(lines)
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)
