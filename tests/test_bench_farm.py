"""The benchmark's feed farm speaks HTTP/1.1 as both measured clients need: 200 with
validators, 304 when the ETag matches, new versions on demand, keep-alive
(bench/farm.py, served on loopback, fetched with aiohttp as Skywatch fetches)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bench.farm import Farm, FarmProtocol, render_feed


@pytest.fixture
async def farm_url() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FarmProtocol(Farm(4)), "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_feeds_validators_and_changes(farm_url: str) -> None:
    # one connection for every request: keep-alive must hold across 200s and 304s
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(f"{farm_url}/f/2.xml") as r:
            assert r.status == 200
            assert await r.read() == render_feed(2, 0)
            etag = r.headers["ETag"]
            assert r.headers["Content-Type"] == "application/rss+xml"
            assert r.headers["Last-Modified"].endswith(" GMT")
        async with http.get(f"{farm_url}/f/2.xml", headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and await r.read() == b""
        async with http.post(f"{farm_url}/_change?fraction=1") as r:
            assert await r.text() == "4"
        async with http.get(f"{farm_url}/f/2.xml", headers={"If-None-Match": etag}) as r:
            assert r.status == 200 and r.headers["ETag"] != etag
            assert await r.read() == render_feed(2, 1)
        async with http.get(f"{farm_url}/_stats") as r:
            assert await r.json() == {"requests": 3}
        async with http.post(f"{farm_url}/_reset") as r:
            assert await r.text() == "ok"
        async with http.get(f"{farm_url}/f/2.xml", headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        async with http.get(f"{farm_url}/f/4.xml") as r:
            assert r.status == 404
        async with http.get(f"{farm_url}/f/x.xml") as r:
            assert r.status == 404


async def test_a_request_split_across_packets_is_answered_once_whole(farm_url: str) -> None:
    host, port = farm_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = b"GET /f/1.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for part in (request[:10], request[10:30], request[30:]):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.01)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(render_feed(1, 0)) and answer.count(b"HTTP/1.1") == 1
