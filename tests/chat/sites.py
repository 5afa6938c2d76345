"""A loopback web site for `feeds add`: a feed, a page linking it, a plain page, a slow feed.

Routes (GET), counted in `hits`:

    /feed.xml   RSS, three items, a title with `<!channel>` and `<script>` in it
    /site       HTML advertising /feed.xml with <link rel="alternate">
    /plain      HTML without any feed link
    /slow       /feed.xml after `slow_s` seconds (longer than Slack's 3 s acknowledgement)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import TracebackType
from typing import Self

from aiohttp import web

FEED_TITLE = "Loopback <!channel> News & <script>"
FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>{FEED_TITLE.replace("&", "&amp;").replace("<", "&lt;")}</title>
<link>http://localhost/</link>
<item><title>Patriot batteries arrive</title><link>http://localhost/1</link><guid>1</guid></item>
<item><title>ППО отразила атаку</title><link>http://localhost/2</link><guid>2</guid></item>
<item><title>パトリオット配備</title><link>http://localhost/3</link><guid>3</guid></item>
</channel></rss>
""".encode()
SITE = b"""<!doctype html><html><head><title>Loopback</title>
<link rel="alternate" type="application/rss+xml" title="News" href="/feed.xml">
</head><body>news</body></html>"""
PLAIN = b"<!doctype html><html><head><title>Plain</title></head><body>no feed</body></html>"


class SiteServer:
    """The site on 127.0.0.1; `url()` names it `localhost`, the only host tests allow."""

    def __init__(self, *, slow_s: float = 3.5) -> None:
        self.slow_s = slow_s
        self.hits: Counter[str] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/feed.xml", self._feed)
        app.router.add_get("/site", self._page(SITE))
        app.router.add_get("/plain", self._page(PLAIN))
        app.router.add_get("/slow", self._slow)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _feed(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        return web.Response(body=FEED, content_type="application/rss+xml")

    def _page(self, body: bytes) -> web.RequestHandler:  # type: ignore[name-defined]
        async def page(request: web.Request) -> web.Response:
            self.hits[request.path] += 1
            return web.Response(body=body, content_type="text/html")

        return page

    async def _slow(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        await asyncio.sleep(self.slow_s)
        return web.Response(body=FEED, content_type="application/rss+xml")
