"""The pipeline's promise to a channel: an item alerts at most once, ever.

The real Pipeline (real Fetcher, parser, matcher and store) polls feeds served
by a loopback HTTP server whose documents the tests rewrite between polls.
Alerts are counted as outbox rows, and time is a controlled clock: a poll
happens when the test advances the clock past every feed's next check.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Self

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.config import ChannelSpec, Settings
from bot.feeds.fetch import Fetcher
from bot.feeds.parse import parse_feed
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.store.schema import Feed, ItemRow, OutboxRow
from bot.store.search import search
from bot.types import ParsedFeed, PollSummary
from bot.update import Pipeline

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
#: longer than max_interval and any backoff used here: every active feed is due again
NEXT_POLL = timedelta(hours=7)
ADMIN = "console"

TOPICS = {
    "air-defense": TopicSpec.model_validate(
        {"description": "Air defense", "concepts": {"system": ["Patriot"]}, "any": ["system"]}
    )
}


# --- a loopback feed server whose documents the test rewrites --------------------------------


@dataclass
class Route:
    """What one path answers: a feed (with an ETag), a redirect, or a bare status."""

    body: bytes = b""
    status: int = 200
    location: str | None = None
    etag: str | None = None


@dataclass
class FeedSite:
    """aiohttp on 127.0.0.1; `routes` may change between polls."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    conditional: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    def serve(self, path: str, body: bytes, *, etag: str | None = None) -> None:
        self.routes[path] = Route(body=body, etag=etag)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404)
        if route.location is not None:
            return web.Response(status=route.status, headers={"Location": route.location})
        if route.status != 200:
            return web.Response(status=route.status)
        headers = {"Content-Type": "application/rss+xml"}
        if route.etag is not None:
            headers["ETag"] = route.etag
            if request.headers.get("If-None-Match") == route.etag:
                self.conditional[path] = self.conditional.get(path, 0) + 1
                return web.Response(status=304, headers=headers)
        return web.Response(body=route.body, headers=headers)


def rss(*items: str, title: str = "Loopback Desk") -> bytes:
    body = "".join(items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://localhost/</link>{body}</channel></rss>"
    ).encode()


def item(
    title: str,
    guid: str | None,
    published: datetime,
    link: str | None = None,
    permalink: bool = True,
) -> str:
    parts = [f"<title>{title}</title>", f"<pubDate>{format_datetime(published)}</pubDate>"]
    if guid is not None:
        attr = "" if permalink else ' isPermaLink="false"'
        parts.append(f"<guid{attr}>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    return "<item>" + "".join(parts) + "</item>"


# --- the bot: a real pipeline on a controlled clock ----------------------------------------


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = NEXT_POLL) -> None:
        self.now += delta


class InlineParser:
    """The parse stage in the calling thread (ParserPool runs the same `parse_feed`)."""

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        return parse_feed(body, headers, url)


@dataclass
class Bot:
    """One bot process: a Database and a Pipeline; `restart` builds fresh ones."""

    db_url: str
    clock: Clock
    settings: Settings
    db: Database | None = None
    fetcher: Fetcher | None = None
    pipeline: Pipeline | None = None

    async def start(self) -> None:
        self.db = Database(self.db_url)
        self.db.upgrade()
        self.fetcher = await Fetcher(timeout_s=5, allow_private_hosts=("localhost",)).__aenter__()
        self.pipeline = Pipeline(
            self.db,
            self.fetcher,
            InlineParser(),
            TopicMatcher.compile(TOPICS),
            self.settings,
            clock=self.clock,
            rng=random.Random(7),
        )

    async def stop(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.__aexit__(None, None, None)
        if self.db is not None:
            self.db.dispose()
        self.db = self.fetcher = self.pipeline = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def poll(self) -> PollSummary:
        """Advance the clock until every feed is due, then run one cycle."""
        assert self.pipeline is not None
        self.clock.advance()
        return await self.pipeline.poll_due()

    def add_feed(self, url: str) -> int:
        assert self.db is not None
        with self.db.write() as session:
            return feed_store.add_feed(session, url, self.clock()).id

    def outbox(self, kind: str = "alert") -> int:
        assert self.db is not None
        with self.db.read() as session:
            query = select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == kind)
            return int(session.scalar(query) or 0)

    def feed(self, feed_id: int) -> Feed:
        assert self.db is not None
        with self.db.read() as session:
            row = session.get(Feed, feed_id)
            assert row is not None
            session.expunge(row)
            return row

    def item_count(self) -> int:
        assert self.db is not None
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(ItemRow)) or 0)


@pytest.fixture
async def site() -> AsyncIterator[FeedSite]:
    async with FeedSite() as running:
        yield running


@pytest.fixture
async def bot(db_url: str) -> AsyncIterator[Bot]:
    running = Bot(db_url, Clock(), Settings(report_after_errors=3))
    await running.start()
    assert running.db is not None
    with running.db.write() as session:
        channel_store.sync_channels(session, [ChannelSpec(id=ADMIN, admin=True)], START)
    try:
        yield running
    finally:
        await running.stop()


def hours_ago(bot: Bot, hours: float) -> datetime:
    """A publication time relative to the next poll (which advances the clock)."""
    return bot.clock() + NEXT_POLL - timedelta(hours=hours)


# --- an item alerts at most once --------------------------------------------------------------


async def test_an_item_alerts_once_whatever_the_feed_does_with_it(bot: Bot, site: FeedSite) -> None:
    bot.add_feed(site.url("/rss"))
    bot.clock.advance(timedelta(minutes=-1))  # the feed was added just before the poll
    a = hours_ago(bot, 2)
    b = hours_ago(bot, 1)
    site.serve(
        "/rss",
        rss(item("Patriot battery A", "id-a", a), item("Patriot battery B", "id-b", b)),
    )
    first = await bot.poll()
    assert (first.new_items, first.queued) == (2, 2)
    assert bot.outbox() == 2

    # retitled (still matching), reordered, and re-sent with new dates
    site.serve(
        "/rss",
        rss(
            item("Patriot battery B arrives", "id-b", hours_ago(bot, 0.5)),
            item("Patriot battery A, updated", "id-a", hours_ago(bot, 0.1)),
        ),
    )
    second = await bot.poll()
    assert (second.fetched, second.new_items, second.queued) == (1, 0, 0)

    await bot.restart()  # a new process: new Database and Pipeline on the same store
    third = await bot.poll()
    assert (third.fetched, third.new_items, third.queued) == (1, 0, 0)
    assert bot.outbox() == 2

    # and the pipeline still alerts what is new
    site.routes["/rss"].body = rss(
        item("Patriot battery C", "id-c", hours_ago(bot, 0.2)),
        item("Patriot battery B arrives", "id-b", b),
        item("Patriot battery A, updated", "id-a", a),
    )
    fourth = await bot.poll()
    assert (fourth.new_items, fourth.queued) == (1, 1)
    assert bot.outbox() == 2 + 1


async def test_items_without_guid_alert_once_when_retitled_or_redated(
    bot: Bot, site: FeedSite
) -> None:
    bot.add_feed(site.url("/rss"))
    bot.clock.advance(timedelta(minutes=-1))
    link = "http://localhost/news/patriot?utm_source=rss"
    site.serve("/rss", rss(item("Patriot arrives", None, hours_ago(bot, 1), link=link)))
    assert (await bot.poll()).queued == 1
    # a new date, a new title and another tracking parameter: the same link, the same item
    again = "http://localhost/news/patriot?utm_source=twitter#top"
    site.serve("/rss", rss(item("Patriot has arrived", None, hours_ago(bot, 0.1), link=again)))
    assert (await bot.poll()).queued == 0
    assert bot.outbox() == 1


# --- 304 --------------------------------------------------------------------------------------


async def test_not_modified_parses_nothing_and_alerts_nothing(bot: Bot, site: FeedSite) -> None:
    bot.add_feed(site.url("/rss"))
    bot.clock.advance(timedelta(minutes=-1))
    site.serve("/rss", rss(item("Patriot one", "1", hours_ago(bot, 1))), etag='"v1"')
    assert (await bot.poll()).queued == 1
    # The server says "not modified" although the document changed: nothing may come of it.
    site.routes["/rss"].body = rss(item("Patriot two", "2", hours_ago(bot, 1)))
    summary = await bot.poll()
    assert site.conditional == {"/rss": 1}
    assert (summary.not_modified, summary.fetched, summary.new_items) == (1, 0, 0)
    assert bot.outbox() == 1
    assert bot.item_count() == 1


# --- adding a feed does not flood a channel ---------------------------------------------------


async def test_a_new_feeds_backlog_is_stored_and_searchable_but_quiet(
    bot: Bot, site: FeedSite
) -> None:
    bot.add_feed(site.url("/rss"))
    bot.clock.advance(timedelta(minutes=-1))
    backlog_age = bot.settings.backlog_age
    site.serve(
        "/rss",
        rss(
            item("Patriot fresh", "fresh", hours_ago(bot, 1)),
            item("Patriot archive", "old-1", hours_ago(bot, backlog_age / timedelta(hours=1) + 1)),
            item("Patriot ancient", "old-2", hours_ago(bot, 24 * 30)),
        ),
    )
    summary = await bot.poll()
    assert (summary.new_items, summary.matched, summary.queued) == (3, 3, 1)
    assert bot.outbox() == 1
    assert bot.db is not None
    with bot.db.read() as session:
        found = {i.title for i in search(session, "archive")} | {
            i.title for i in search(session, "ancient")
        }
    assert found == {"Patriot archive", "Patriot ancient"}


# --- failing and gone feeds -------------------------------------------------------------------


async def test_a_failing_feed_backs_off_and_is_reported_once(bot: Bot, site: FeedSite) -> None:
    feed_id = bot.add_feed(site.url("/broken"))
    site.routes["/broken"] = Route(status=500)
    waits = []
    for _ in range(6):
        summary = await bot.poll()
        assert summary.errors == 1
        feed = bot.feed(feed_id)
        waits.append(feed.next_check_at - bot.clock())
    assert bot.feed(feed_id).consecutive_errors == 6
    assert bot.feed(feed_id).status == "failing"  # still polled, never silently dropped
    assert waits[-1] > waits[0] * 4, waits  # exponential backoff (with jitter)
    assert bot.outbox("report") == 1
    assert site.hits["/broken"] == 6

    # it recovers, then fails again: a new run of failures is reported again, once
    site.serve("/broken", rss(item("Patriot back", "1", hours_ago(bot, 1))))
    assert (await bot.poll()).errors == 0
    site.routes["/broken"] = Route(status=500)
    for _ in range(4):
        await bot.poll()
    assert bot.outbox("report") == 2


async def test_a_gone_feed_stops_and_is_reported(bot: Bot, site: FeedSite) -> None:
    feed_id = bot.add_feed(site.url("/gone"))
    site.routes["/gone"] = Route(status=410)
    summary = await bot.poll()
    assert summary.errors == 1
    assert bot.feed(feed_id).status == "stopped"
    assert bot.outbox("report") == 1
    await bot.poll()
    await bot.poll()
    assert site.hits["/gone"] == 1  # never polled again
    assert bot.outbox("report") == 1


# --- a feed that moves keeps its items' identity ----------------------------------------------


async def test_a_moved_feed_does_not_alert_its_items_again(bot: Bot, site: FeedSite) -> None:
    """Relative guids and links resolve to new URLs after a 301; the items are the same."""
    feed_id = bot.add_feed(site.url("/feeds/old.xml"))
    bot.clock.advance(timedelta(minutes=-1))
    document = rss(
        item("Patriot relative guid", "/news/1", hours_ago(bot, 1)),
        item("Patriot bare guid", "2", hours_ago(bot, 1)),
        item("Patriot relative link", None, hours_ago(bot, 1), link="story/3.html"),
        item("Patriot opaque guid", "rel-4", hours_ago(bot, 1), link="4", permalink=False),
    )
    site.serve("/feeds/old.xml", document)
    assert (await bot.poll()).queued == 4

    new_url = site.url("/v2/rss/feed.xml")  # another directory: relative paths resolve elsewhere
    site.routes["/feeds/old.xml"] = Route(status=301, location=new_url)
    site.serve("/v2/rss/feed.xml", document)
    moved = await bot.poll()
    assert (moved.fetched, moved.new_items, moved.queued) == (1, 0, 0)
    assert bot.feed(feed_id).url == new_url

    settled = await bot.poll()  # now polled at its new address
    assert site.hits["/feeds/old.xml"] == 2
    assert (settled.fetched, settled.new_items, settled.queued) == (1, 0, 0)
    assert bot.outbox() == 4


async def test_an_html_page_instead_of_a_feed_is_an_error_that_says_so(
    bot: Bot, site: FeedSite
) -> None:
    feed_id = bot.add_feed(site.url("/page"))
    site.serve("/page", b"<!doctype html><html><head><title>Moved</title></head><body/></html>")
    summary = await bot.poll()
    assert (summary.errors, summary.new_items) == (1, 0)
    feed = bot.feed(feed_id)
    assert feed.last_error is not None and "not a feed" in feed.last_error
    assert "Traceback" not in feed.last_error
    assert bot.item_count() == 0


async def test_a_temporary_redirect_to_a_mirror_alerts_nothing_again(
    bot: Bot, site: FeedSite
) -> None:
    feed_id = bot.add_feed(site.url("/news/feed.xml"))
    bot.clock.advance(timedelta(minutes=-1))
    document = rss(item("Patriot bare guid", "77", hours_ago(bot, 1), link="77.html"))
    site.serve("/news/feed.xml", document)
    assert (await bot.poll()).queued == 1
    site.routes["/news/feed.xml"] = Route(status=302, location=site.url("/mirror/a/b.xml"))
    site.serve("/mirror/a/b.xml", document)
    redirected = await bot.poll()
    assert (redirected.fetched, redirected.new_items, redirected.queued) == (1, 0, 0)
    assert bot.feed(feed_id).url == site.url("/news/feed.xml")  # a 302 does not move it
    assert bot.outbox() == 1
