"""Every parse quirk of the issue, served over HTTP: fetcher, parser process, discovery.

A loopback server sends the fixtures with the headers a real server would
(headers.json), the real guarded Fetcher reads them, and `ParserPool` parses
them in its worker process, as `skywatch run` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from bot.errors import FetchError, NotAFeedError
from bot.feeds.fetch import Fetcher
from bot.feeds.parse_pool import ParserPool
from bot.feeds.probe import probe_feed
from bot.types import ParsedFeed
from tests.feeds.test_parse import DATA, HEADERS

JA = "防空システムが首都上空でドローン三機を迎撃"
RU = "ПВО сбила беспилотник над Киевом"
ZH = "防空部队拦截两架无人机"
DE = "Flugabwehr über München: Drohnen lösen Großalarm aus"
#: fixture -> its first title; the *_nodecl ones carry their charset in Content-Type only
ENCODED = {
    "ja_shift_jis_decl.xml": JA,
    "ja_shift_jis_nodecl.xml": JA,
    "ja_euc_jp_decl.xml": JA,
    "ja_euc_jp_nodecl.xml": JA,
    "ru_windows1251_decl.xml": RU,
    "ru_windows1251_nodecl.xml": RU,
    "zh_gb2312_decl.xml": ZH,
    "zh_gb2312_nodecl.xml": ZH,
    "de_iso8859_1_decl.xml": DE,
    "de_iso8859_1_nodecl.xml": DE,
}
BROKEN = {
    "broken_truncated.xml": ["Drone downed over port", "Second alert of the night"],
    "broken_unescaped_ampersand.xml": None,
    "broken_undefined_entity.xml": None,
    "broken_bogus_namespace.xml": None,
}
SITE_PAGE = b"""<!doctype html><html><head><title>Site</title>
<link rel="alternate" type="application/rss+xml" title="News" href="/feeds/news.xml">
</head><body><p>Welcome</p></body></html>"""
PLAIN_PAGE = b"<!doctype html><html><head><title>Plain</title></head><body>hi</body></html>"
DEAD_LINK_PAGE = SITE_PAGE.replace(b"/feeds/news.xml", b"/feeds/gone.xml")


class Site:
    """Serves tests/data/feeds/<name> at /data/<name> with its headers.json headers."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/data/{name}", self._fixture)
        app.router.add_get("/bare/{name}", self._bare)
        app.router.add_get("/site", self._page(SITE_PAGE))
        app.router.add_get("/plain", self._page(PLAIN_PAGE))
        app.router.add_get("/dead-link", self._page(DEAD_LINK_PAGE))
        app.router.add_get("/feeds/news.xml", self._news)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _fixture(self, request: web.Request) -> web.Response:
        path = DATA / request.match_info["name"]
        if not path.is_file():
            return web.Response(status=404)
        headers = {"content-type": "application/rss+xml", **HEADERS.get(path.name, {})}
        headers.pop("content-location", None)  # the server's own URL is the base here
        return web.Response(body=path.read_bytes(), headers=headers)

    async def _bare(self, request: web.Request) -> web.Response:
        """The fixture with a Content-Type that names no charset."""
        body = (DATA / request.match_info["name"]).read_bytes()
        return web.Response(body=body, headers={"content-type": "application/rss+xml"})

    @staticmethod
    def _page(body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="text/html")

        return handler

    async def _news(self, request: web.Request) -> web.Response:
        return web.Response(
            body=(DATA / "rss20.xml").read_bytes(), content_type="application/rss+xml"
        )


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    running = Site()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(timeout_s=5, allow_private_hosts=("localhost",)) as opened:
        yield opened


async def _served(site: Site, fetcher: Fetcher, pool: ParserPool, name: str) -> ParsedFeed:
    fetched = await fetcher.fetch_url(site.url(f"/data/{name}"))
    return await pool.parse(fetched.body, fetched.headers, fetched.url)


async def test_every_encoding_arrives_intact(site: Site, fetcher: Fetcher) -> None:
    async with ParserPool(workers=1, inline_below=0) as pool:
        titles = {
            name: (await _served(site, fetcher, pool, name)).items[0].title for name in ENCODED
        }
    assert titles == ENCODED


async def test_broken_feeds_served_still_give_their_items(site: Site, fetcher: Fetcher) -> None:
    async with ParserPool(workers=1) as pool:
        for name, first_titles in BROKEN.items():
            feed = await _served(site, fetcher, pool, name)
            assert feed.items, name
            assert feed.problem, name  # and say what broke
            if first_titles is not None:
                assert [i.title for i in feed.items[: len(first_titles)]] == first_titles


async def test_a_site_page_leads_to_its_feed(site: Site, fetcher: Fetcher) -> None:
    probed = await probe_feed(fetcher, site.url("/site"))
    assert probed.url == site.url("/feeds/news.xml")
    assert probed.parsed.items


async def test_a_page_without_feeds_is_not_a_feed(site: Site, fetcher: Fetcher) -> None:
    with pytest.raises(NotAFeedError) as caught:
        await probe_feed(fetcher, site.url("/plain"))
    assert (
        str(caught.value)
        == f"{site.url('/plain')} is a web page, not a feed, and it links to no feed"
    )


async def test_a_page_whose_feed_fails_names_the_feed(site: Site, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        await probe_feed(fetcher, site.url("/dead-link"))
    assert str(caught.value) == (
        f"{site.url('/dead-link')} links to the feed {site.url('/feeds/gone.xml')},"
        " which failed: HTTP 404 Not Found"
    )


async def test_an_html_page_polled_as_a_feed_says_so(site: Site, fetcher: Fetcher) -> None:
    fetched = await fetcher.fetch_url(site.url("/site"))
    async with ParserPool(workers=1, inline_below=0) as pool:
        with pytest.raises(NotAFeedError) as caught:
            await pool.parse(fetched.body, fetched.headers, fetched.url)
    assert "not a feed" in str(caught.value)
    assert caught.value.feed_links == (site.url("/feeds/news.xml"),)


@pytest.mark.parametrize("name", ["ja_shift_jis_nodecl.xml", "ru_windows1251_nodecl.xml"])
async def test_no_declaration_and_no_charset_is_detected_with_chardet(
    site: Site, fetcher: Fetcher, name: str
) -> None:
    # feedparser (and the fast path, through the same decoder) guesses the
    # charset with chardet when neither header nor document names it
    pytest.importorskip("chardet")
    fetched = await fetcher.fetch_url(site.url(f"/bare/{name}"))
    assert "charset" not in fetched.headers.get("content-type", "")
    async with ParserPool(workers=1, inline_below=0) as pool:
        feed = await pool.parse(fetched.body, fetched.headers, fetched.url)
    assert feed.items[0].title == ENCODED[name]
