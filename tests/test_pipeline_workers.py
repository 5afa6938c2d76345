"""The parser workers' share of the pipeline: parse, normalize, match, fingerprint.

A `ParserPool` built with the topics prepares each feed in a real worker
process (bot/feeds/prepare.py). These tests hold it to the in-process path:
the same items, matches and fingerprints for every fixture document, the
same rows, alerts and stories for a whole pipeline, and nothing lost when a
worker is killed in the middle of a cycle.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.config import ChannelSpec, Settings
from bot.errors import NotAFeedError, ParseError
from bot.feeds.fetch import Fetcher
from bot.feeds.normalize import normalize_title
from bot.feeds.parse import parse_feed
from bot.feeds.parse_pool import ParserPool
from bot.feeds.prepare import PreparedFeed, normalized, prepare_document
from bot.match.similarity import Fingerprint
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.store.schema import ItemRow, MatchRow, OutboxRow
from bot.types import PollSummary
from bot.update import FeedParser, Pipeline
from tests.test_pipeline_dedup import NEXT_POLL, START, Clock, FeedSite, InlineParser, item, rss
from tests.worker_processes import worker_pids

DATA = Path(__file__).resolve().parent / "data" / "feeds"
URL = "https://feeds.example.org/news/feed.xml"
ADMIN = "console"

TOPICS = {
    "air-defense": TopicSpec.model_validate(
        {"description": "Air defense", "concepts": {"system": ["Patriot"]}, "any": ["system"]}
    ),
    "drones": TopicSpec.model_validate(
        {"description": "Drones", "concepts": {"drone": ["drone(s)"]}, "any": ["drone"]}
    ),
}


def _documents() -> list[Any]:
    """Every parseable fixture, plus a document made to match, with odd dates and links."""
    files = sorted(p for p in DATA.iterdir() if p.suffix in (".xml", ".rdf", ".json"))
    docs = [pytest.param(p.read_bytes(), id=p.name) for p in files if p.name != "empty.xml"]
    when = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    made = rss(
        item("Patriot battery moved east", "p-1", when),
        item("Drones over the <b>harbour</b>", "p-2", datetime(2099, 1, 1, tzinfo=UTC)),
        "<item><title>Patriot, undated</title><guid>p-3</guid></item>",
        "<item><title>Drone sighting</title><link>/relative/drone</link></item>",
        item("Nothing to see", "p-5", when),
        item("Patriot battery moved east", "p-1", when),  # a duplicate guid
    )
    return [*docs, pytest.param(made, id="made-to-match")]


def prepared_here(body: bytes, matcher: TopicMatcher, lang: str | None = None) -> PreparedFeed:
    """What a worker's `prepare` gives for a first fetch (nothing seen yet), done here."""
    return prepare_document(body, {}, URL, lang, matcher, None)


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher.compile(TOPICS)


@pytest.fixture
async def pool() -> AsyncIterator[ParserPool]:
    async with ParserPool(workers=1, topics=TOPICS) as running:
        yield running


# --- one document: the worker's result is the writer's ---------------------------------------


@pytest.mark.parametrize("body", _documents())
@pytest.mark.parametrize("lang", [None, "de"])
async def test_worker_prepares_what_the_writer_computes(
    body: bytes, lang: str | None, pool: ParserPool, matcher: TopicMatcher
) -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    try:
        parsed = parse_feed(body, {}, URL)
    except ParseError:
        with pytest.raises(ParseError):
            await pool.prepare(body, {}, URL, lang)
        return
    prepared = await pool.prepare(body, {}, URL, lang)

    items = normalized(parsed, URL, now, lang)  # the in-process path, as the writer runs it
    assert prepared.items_at(now) == items
    expected = [tuple(matcher.match_item(i)) for i in items]
    assert list(prepared.matches) == expected
    assert list(prepared.fingerprints) == [
        Fingerprint.of(i.title, i.summary) if found else None
        for i, found in zip(items, expected, strict=True)
    ]
    assert (prepared.title, prepared.link, prepared.ttl_minutes, prepared.lang) == (
        normalize_title(parsed.title),  # as the writer normalizes a parsed feed's
        parsed.link,
        parsed.ttl_minutes,
        parsed.lang,
    )


async def test_the_made_document_matches_and_clamps(pool: ParserPool) -> None:
    """The equivalence above covers matching and the date clamp, not only empty lists."""
    (made,) = (p.values[0] for p in _documents() if p.id == "made-to-match")
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    prepared = await pool.prepare(made, {}, URL, None)
    items = prepared.items_at(now)
    assert [bool(m) for m in prepared.matches] == [True, True, True, True, False, True]
    assert items[1].published_at == now  # 2099: clamped to the write's `now`
    assert items[2].published_at == now  # no date: the write's `now`
    assert items[0].published_at < now
    assert prepared == prepared_here(made, TopicMatcher.compile(TOPICS))
    assert prepared.digests is not None and len(prepared.digests) == 6 * 16


async def test_worker_errors_cross_the_process_boundary_intact(pool: ParserPool) -> None:
    html = (DATA / "html_page_alternate.html").read_bytes()
    with pytest.raises(NotAFeedError) as caught:
        await pool.prepare(html, {}, "https://site.example.org/news/", None)
    assert "https://site.example.org/atom.xml" in caught.value.feed_links
    with pytest.raises(ParseError) as plain:
        await pool.prepare(b"just some text", {}, URL, None)
    assert type(plain.value) is ParseError


def _refuse_to_start(topics: object) -> None:
    raise SystemExit(3)


async def test_without_workers_the_pool_prepares_in_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers that cannot start (a process limit, a broken install) cost speed, not feeds."""
    from bot.feeds import parse_pool

    # the initializer crosses to the worker by name: this one exits before it is ready
    monkeypatch.setattr(parse_pool, "_start_worker", _refuse_to_start)
    monkeypatch.setattr(parse_pool, "_matcher", None)  # restored after the test
    (made,) = (p.values[0] for p in _documents() if p.id == "made-to-match")
    expected = prepared_here(made, TopicMatcher.compile(TOPICS))
    async with ParserPool(workers=1, topics=TOPICS) as pool:
        for _ in range(3):  # past the pool's giving up, and after it
            assert await pool.prepare(made, {}, URL, None) == expected
        big = rss(*(item(f"Story {n}", f"g-{n}", START) for n in range(700)))
        assert len(big) >= pool.inline_below  # a body that never parses on the loop
        assert len((await pool.parse(big, {}, URL)).items) == 700
    assert "parser workers cannot start" in caplog.text


async def test_when_no_process_can_be_started_the_pool_prepares_in_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The system refusing a process (a limit; here, no interpreter at that path) is
    not a feed's failure either."""
    import sys

    from bot.feeds import parse_pool

    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    monkeypatch.setattr(parse_pool, "_matcher", None)  # restored after the test
    (made,) = (p.values[0] for p in _documents() if p.id == "made-to-match")
    expected = prepared_here(made, TopicMatcher.compile(TOPICS))
    async with ParserPool(workers=2, topics=TOPICS) as pool:
        assert await pool.prepare(made, {}, URL, None) == expected
    assert "cannot start a parser worker" in caplog.text
    assert "parser workers cannot start" in caplog.text


async def test_prepare_needs_topics() -> None:
    async with ParserPool(workers=1) as pool:
        with pytest.raises(RuntimeError):
            await pool.prepare(rss(), {}, URL, None)


def _workers() -> list[int]:
    return worker_pids()


async def test_a_killed_worker_costs_no_call_in_flight(pool: ParserPool) -> None:
    """Killing the worker fails every call in flight; each runs again in a fresh worker."""
    bodies = [
        rss(*(item(f"Patriot report {n}-{i}", f"g-{n}-{i}", START) for i in range(60)))
        for n in range(24)
    ]
    await pool.prepare(bodies[0], {}, URL, None)  # the worker is up
    (worker,) = _workers()
    calls = [asyncio.ensure_future(pool.prepare(b, {}, URL, None)) for b in bodies]
    done, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) < len(calls)  # calls are in flight when the worker dies
    os.kill(worker, signal.SIGKILL)
    results = await asyncio.gather(*calls)

    local = TopicMatcher.compile(TOPICS)
    assert results == [prepared_here(b, local) for b in bodies]
    assert _workers() != [worker]  # a fresh worker did the rest


# --- a whole pipeline: the same rows with or without the workers -----------------------------


@dataclass
class Run:
    """One pipeline with its own store, polling the shared site on its own clock."""

    db: Database
    pipeline: Pipeline
    clock: Clock

    async def poll(self) -> PollSummary:
        self.clock.advance()
        return await self.pipeline.poll_due()

    def rows(self) -> dict[str, Any]:
        """What was stored, without ids or anything else that depends on insertion order."""
        with self.db.read() as s:
            items = s.execute(
                select(ItemRow.key, ItemRow.title, ItemRow.summary, ItemRow.published_at)
            ).all()
            matches = s.execute(
                select(ItemRow.key, MatchRow.topic, MatchRow.explanation).join(
                    MatchRow, MatchRow.item_id == ItemRow.id
                )
            ).all()
            stories = s.execute(select(ItemRow.key, ItemRow.story_id)).all()
            alerts = s.execute(select(OutboxRow.kind, OutboxRow.payload)).all()
        groups: dict[object, set[str]] = {}
        for key, story in stories:
            if story is not None:
                groups.setdefault(story, set()).add(key)
        return {
            "items": sorted(tuple(map(str, r)) for r in items),
            "matches": sorted((key, topic, repr(why)) for key, topic, why in matches),
            "stories": sorted(sorted(g) for g in groups.values()),
            "alerts": sorted((kind, repr(sorted(payload.items()))) for kind, payload in alerts),
        }


async def _run(url: str, parser: FeedParser, fetcher: Fetcher, feeds: list[str]) -> Run:
    db = Database(url)
    db.upgrade()
    clock = Clock()
    with db.write() as s:
        channel_store.sync_channels(
            s, [ChannelSpec(id=ADMIN, admin=True), ChannelSpec(id="slack:C1")], START
        )
        for feed in feeds:
            # added just before the first poll (which advances the clock by NEXT_POLL)
            feed_store.add_feed(s, feed, clock() + NEXT_POLL - timedelta(minutes=1))
    pipeline = Pipeline(db, fetcher, parser, TopicMatcher.compile(TOPICS), Settings(), clock=clock)
    return Run(db, pipeline, clock)


def _words(seed: int) -> str:
    """Made-up words: titles that share none stay separate stories, whatever the order."""
    rng = random.Random(seed)
    return " ".join("".join(rng.choices("bdgklmnprstvz", k=3)) + "o" for _ in range(6))


def _serve(site: FeedSite, feeds: int, poll: int) -> None:
    """Each feed: a backlog, then per poll a new item, an undated one and an edit."""
    for n in range(feeds):
        entries = []
        for p in range(poll + 1):
            published = START + NEXT_POLL * (p + 1) - timedelta(hours=1)  # before poll p
            entries.append(item(f"Patriot {_words(n * 100 + p)}", f"f{n}-new-{p}", published))
            entries.append(
                f"<item><title>Drones {_words(-n * 100 - p)}</title>"
                f"<guid>f{n}-undated-{p}</guid></item>"
            )
        entries.append(item(f"Calm day {n} (edit {poll})", f"f{n}-calm", START - timedelta(days=2)))
        site.serve(f"/f/{n}.xml", rss(*entries, title=f"Desk {n}"))


@pytest.fixture
async def site() -> AsyncIterator[FeedSite]:
    async with FeedSite() as running:
        yield running


async def test_pipeline_with_workers_stores_what_the_in_process_pipeline_stores(
    site: FeedSite, tmp_path: Path
) -> None:
    feeds = [site.url(f"/f/{n}.xml") for n in range(6)]
    async with (
        Fetcher(timeout_s=5, allow_private_hosts=("localhost",)) as fetcher,
        ParserPool(workers=2, topics=TOPICS) as pool,
    ):
        inline = await _run(f"sqlite:///{tmp_path / 'inline.db'}", InlineParser(), fetcher, feeds)
        workers = await _run(f"sqlite:///{tmp_path / 'workers.db'}", pool, fetcher, feeds)
        queued = 0
        for poll in range(3):
            _serve(site, len(feeds), poll)
            a, b = await inline.poll(), await workers.poll()
            assert (a.new_items, a.matched, a.queued, a.errors) == (
                b.new_items,
                b.matched,
                b.queued,
                b.errors,
            )
            assert b.errors == 0
            queued += b.queued
        assert queued > 0
        assert inline.rows() == workers.rows()


class KillingSite(FeedSite):
    """Kills the parser workers when the `kill_at`-th request arrives."""

    kill_at = 5
    killed: list[int]

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if sum(self.hits.values()) + 1 == self.kill_at:
            for worker in _workers():
                os.kill(worker, signal.SIGKILL)
                self.killed.append(worker)
        return await super()._answer(request)


async def test_a_worker_killed_mid_cycle_loses_nothing(tmp_path: Path) -> None:
    async with KillingSite() as site:
        site.killed = []
        feeds = [site.url(f"/f/{n}.xml") for n in range(30)]
        _serve(site, len(feeds), 0)
        async with (
            Fetcher(timeout_s=5, allow_private_hosts=("localhost",)) as fetcher,
            ParserPool(workers=2, topics=TOPICS) as pool,
        ):
            run = await _run(f"sqlite:///{tmp_path / 'w.db'}", pool, fetcher, feeds)
            summary = await run.poll()
            survivors = set(_workers())
    assert site.killed and not survivors & set(site.killed)  # workers died and were replaced
    assert (summary.fetched, summary.errors) == (30, 0)
    assert summary.new_items == 30 * 3
    assert len(run.rows()["items"]) == 30 * 3
