"""Loopback servers for fetch tests: a hostile feed server and a connection-counting listener.

`HostileFeedServer` is an aiohttp.web app on 127.0.0.1 (port 0) whose routes
misbehave the ways real feed servers do (RELIABILITY.md B1-B5, D1). It counts
requests and body bytes sent per route, and keeps each request's headers, so
tests can assert what reached the server, not just what the client returned.

`ConnectionCounter` is a bare TCP listener that counts accepted connections;
the address guard tests assert it sees none.

Routes (all GET):

    /feed                  RSS with ETag and Last-Modified; 304 when a validator matches
    /html                  an HTML page
    /trickle               200, then one byte every `trickle_interval` seconds, forever
    /huge                  an endless body, no Content-Length
    /huge-declared         Content-Length: 1 GiB (the body never comes)
    /bomb                  Content-Encoding: gzip; endless zeros, compressed while streaming
    /cut                   Content-Length: 1000, then 100 bytes and a closed connection
    /redirect/{code}?to=U  a `code` redirect to U (a path or an absolute URL)
    /loop                  redirects to itself
    /gone                  410
    /limited               429, Retry-After: 120
    /unavailable           503, Retry-After: an HTTP-date one hour ahead
    /missing               404
    /cookie                sets a cookie, then serves /feed
    /silent                accepts the request and never answers
    /hangup                closes the connection without a response
    /bad-gzip              Content-Encoding: gzip, but the body is not gzip
    /always-304            304 whatever was asked
    /status/{code}         an empty response with that status
    /no-location           302 without a Location header
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Self

from aiohttp import web

FEED_BODY = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback</title><link>http://localhost/</link>
<item><title>First</title><link>http://localhost/1</link><guid>1</guid></item>
</channel></rss>
"""
FEED_ETAG = '"feed-v1"'
FEED_LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"
HTML_BODY = b"<!doctype html><html><head><title>Not a feed</title></head><body>hi</body></html>"
RETRY_AFTER_S = 120
UNAVAILABLE_FOR_S = 3600

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HostileFeedServer:
    """A feed server on 127.0.0.1 with good and hostile routes; see the module docstring."""

    def __init__(self, *, url_host: str = "localhost", trickle_interval: float = 0.5) -> None:
        #: the host name used in `url()`; the socket is always bound to 127.0.0.1
        self.url_host = url_host
        self.trickle_interval = trickle_interval
        #: requests per path
        self.hits: Counter[str] = Counter()
        #: body bytes written per path (compressed bytes for /bomb)
        self.bytes_sent: Counter[str] = Counter()
        #: the headers of every request, in order, per path
        self.requests: dict[str, list[Mapping[str, str]]] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/feed") -> str:
        return f"http://{self.url_host}:{self.port}{path}"

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self._app(), handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        routes: dict[str, Handler] = {
            "/feed": self._feed,
            "/html": self._html,
            "/trickle": self._trickle,
            "/huge": self._huge,
            "/huge-declared": self._huge_declared,
            "/bomb": self._bomb,
            "/cut": self._cut,
            "/redirect/{code}": self._redirect,
            "/loop": self._loop,
            "/gone": _status(410),
            "/limited": _status(429, {"Retry-After": str(RETRY_AFTER_S)}),
            "/unavailable": self._unavailable,
            "/missing": _status(404),
            "/cookie": self._cookie,
            "/silent": self._silent,
            "/hangup": self._hangup,
            "/bad-gzip": self._bad_gzip,
            "/always-304": _status(304),
            "/status/{code}": self._any_status,
            "/no-location": _status(302),
        }
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.requests.setdefault(request.path, []).append(dict(request.headers))
        return await handler(request)

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        headers = {
            "ETag": FEED_ETAG,
            "Last-Modified": FEED_LAST_MODIFIED,
            "Cache-Control": "max-age=300",
            "Set-Cookie": "session=secret",
        }
        if (
            request.headers.get("If-None-Match") == FEED_ETAG
            or request.headers.get("If-Modified-Since") == FEED_LAST_MODIFIED
        ):
            return web.Response(status=304, headers=headers)
        self.bytes_sent[request.path] += len(FEED_BODY)
        return web.Response(body=FEED_BODY, content_type="application/rss+xml", headers=headers)

    async def _html(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=HTML_BODY, content_type="text/html")

    async def _stream(
        self,
        request: web.Request,
        chunks: Callable[[], bytes],
        pause: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        """Write chunks until the client goes away."""
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        try:
            while True:
                data = chunks()
                await response.write(data)
                self.bytes_sent[request.path] += len(data)
                await asyncio.sleep(pause)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: that is what the tests want
        return response

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, lambda: b"<", pause=self.trickle_interval)

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        block = b"x" * 65536
        return await self._stream(request, lambda: block)

    async def _huge_declared(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(1 << 30)})
        await response.prepare(request)
        await response.write(b"<rss>")
        self.bytes_sent[request.path] += 5
        await asyncio.sleep(30)  # never finish; the client must not wait for it
        return response

    async def _bomb(self, request: web.Request) -> web.StreamResponse:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
        zeros = b"\0" * (1 << 20)

        def chunk() -> bytes:
            # 1 MiB of zeros compresses to about 1 KiB: a bomb, one fuse at a time.
            return compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)

        headers = {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
        return await self._stream(request, chunk, headers=headers)

    async def _cut(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"<" * 100)
        self.bytes_sent[request.path] += 100
        assert request.transport is not None
        request.transport.close()
        return response

    async def _silent(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)  # the client's deadline must end this, not us
        return web.Response()

    async def _hangup(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def _bad_gzip(self, request: web.Request) -> web.StreamResponse:
        body = b"this is not gzip at all" * 10
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def _any_status(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=int(request.match_info["code"]))

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        code = int(request.match_info["code"])
        return web.Response(status=code, headers={"Location": request.query["to"]})

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "/loop"})

    async def _unavailable(self, request: web.Request) -> web.StreamResponse:
        when = email.utils.formatdate(time.time() + UNAVAILABLE_FOR_S, usegmt=True)
        return web.Response(status=503, headers={"Retry-After": when})

    async def _cookie(self, request: web.Request) -> web.StreamResponse:
        response = await self._feed(request)
        response.set_cookie("tracker", "t1")
        return response


def _status(code: int, headers: Mapping[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers, text=f"status {code}")

    return handler


class ConnectionCounter:
    """A TCP listener on `host` (e.g. 127.0.0.2 or ::1) that counts connections and hangs up."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def url(self, path: str = "/") -> str:
        return f"http://{self.url_host}:{self.port}{path}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
