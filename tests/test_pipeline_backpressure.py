"""A writer that falls behind slows fetching down: parsed feeds never pile up in memory.

The real Pipeline polls feeds from a loopback server; only the writer is slowed
(a subclass sleeps after each batch), so fetching and parsing run far ahead of
it unless the pipeline holds them back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import pytest
from aiohttp import web

from bot import update
from bot.config import Settings
from bot.errors import StoreError
from bot.feeds.fetch import Fetcher
from bot.feeds.parse import parse_feed
from bot.match.topics import TopicMatcher
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.types import ParsedFeed
from bot.update import FeedOutcome, Pipeline

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FEEDS = 40
HELD, BATCH = 4, 2


class CountingParser:
    """Parses in the calling thread and counts what it has handed on."""

    def __init__(self) -> None:
        self.parsed = 0

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        self.parsed += 1
        return parse_feed(body, headers, url)


class SlowWriter(Pipeline):
    """Counts written feeds, records how far parsing ran ahead, and sleeps per batch."""

    written = 0
    ahead = 0
    fail = False

    def _write_batch(self, batch: Sequence[update._Result]) -> list[FeedOutcome]:
        parser = self.parser
        assert isinstance(parser, CountingParser)
        self.ahead = max(self.ahead, parser.parsed - self.written)
        if self.fail:
            raise StoreError("database error: disk I/O error")
        time.sleep(0.02)  # a slow disk
        outcomes = super()._write_batch(batch)
        self.written += len(batch)
        return outcomes


@pytest.fixture
async def farm() -> AsyncIterator[str]:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Grid repaired</title><guid>g1</guid></item></channel></rss>"
    )

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{n}.xml", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://localhost:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def pipeline(
    sqlite_url: str, farm: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SlowWriter]:
    monkeypatch.setattr(update, "MAX_HELD", HELD)
    monkeypatch.setattr(update, "WRITE_BATCH", BATCH)
    db = Database(sqlite_url)
    db.upgrade()
    with db.write() as session:
        for n in range(FEEDS):
            feed_store.add_feed(session, f"{farm}/{n}.xml", NOW)
    async with Fetcher(allow_private_hosts=("localhost",), per_host=FEEDS) as fetcher:
        yield SlowWriter(
            db, fetcher, CountingParser(), TopicMatcher.compile({}), Settings(), clock=lambda: NOW
        )
    db.dispose()


async def test_parsing_stays_a_bounded_distance_ahead_of_the_writer(pipeline: SlowWriter) -> None:
    summary = await pipeline.poll_due()
    assert (summary.feeds, summary.fetched, summary.errors) == (FEEDS, FEEDS, 0)
    # held by producers, waiting in the queue, and the batch being written
    assert pipeline.ahead <= HELD + 2 * BATCH


async def test_a_failing_store_ends_the_cycle_with_its_error_instead_of_hanging(
    pipeline: SlowWriter,
) -> None:
    pipeline.fail = True
    with pytest.raises(StoreError, match="disk I/O"):
        await asyncio.wait_for(pipeline.poll_due(), timeout=30)
