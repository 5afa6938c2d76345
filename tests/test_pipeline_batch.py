"""Group commit: 304s are written together after the batch's fetched feeds, and one
feed row that cannot be written fails alone (the real Pipeline on a loopback server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.config import ChannelSpec, Settings
from bot.store import channels as channel_store
from tests.test_pipeline_dedup import ADMIN, START, Bot, Clock, FeedSite, hours_ago, item, rss


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


async def test_not_modified_feeds_clear_errors_beside_fetched_ones(
    bot: Bot, site: FeedSite
) -> None:
    ids = {path: bot.add_feed(site.url(path)) for path in ("/a", "/b", "/c")}
    bot.clock.advance(timedelta(minutes=-1))
    for path in ids:
        site.serve(path, rss(item(f"Patriot {path}", path, hours_ago(bot, 1))), etag='"v1"')
    assert (await bot.poll()).fetched == 3
    site.routes["/b"].status = 500
    assert (await bot.poll()).errors == 1
    assert bot.feed(ids["/b"]).consecutive_errors == 1

    site.routes["/b"].status = 200
    site.serve("/c", rss(item("Patriot new", "c2", hours_ago(bot, 0.5))), etag='"v2"')
    summary = await bot.poll()
    assert (summary.not_modified, summary.fetched, summary.new_items) == (2, 1, 1)
    for path in ("/a", "/b"):
        feed = bot.feed(ids[path])
        assert (feed.status, feed.consecutive_errors, feed.last_error) == ("active", 0, None)
        assert feed.last_success_at is not None and feed.next_check_at is not None
        assert feed.last_success_at.replace(tzinfo=bot.clock().tzinfo) == bot.clock()
        assert feed.next_check_at.replace(tzinfo=bot.clock().tzinfo) > bot.clock()
        assert feed.etag == '"v1"'
    assert bot.feed(ids["/c"]).etag == '"v2"'


async def test_a_not_modified_feed_whose_row_cannot_be_written_fails_alone(
    bot: Bot, site: FeedSite
) -> None:
    if not bot.db_url.startswith("sqlite"):
        pytest.skip("the failing row is made with a SQLite trigger")
    ids = {path: bot.add_feed(site.url(path)) for path in ("/a", "/b")}
    bot.clock.advance(timedelta(minutes=-1))
    for path in ids:
        site.serve(path, rss(item(f"Patriot {path}", path, hours_ago(bot, 1))), etag='"v1"')
    assert (await bot.poll()).fetched == 2
    assert bot.db is not None
    with bot.db.write() as session:  # a success of /a is refused; recording an error is not
        session.execute(
            text(
                "CREATE TRIGGER refuse_a BEFORE UPDATE ON feeds"
                f" WHEN old.id = {ids['/a']} AND new.last_error IS NULL"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    summary = await bot.poll()
    assert (summary.not_modified, summary.errors) == (1, 1)
    failed, stored = bot.feed(ids["/a"]), bot.feed(ids["/b"])
    assert failed.last_error is not None and "refused" in failed.last_error
    assert stored.last_success_at is not None
    assert stored.last_success_at.replace(tzinfo=bot.clock().tzinfo) == bot.clock()


async def test_a_fetched_feed_that_cannot_be_stored_fails_alone_and_nothing_doubles(
    bot: Bot, site: FeedSite
) -> None:
    """A batch is first written without savepoints; when one feed fails, that attempt is
    rolled back whole (rows and story index) and the batch written feed by feed."""
    if not bot.db_url.startswith("sqlite"):
        pytest.skip("the failing row is made with a SQLite trigger")
    paths = ("/a", "/b", "/c")
    ids = {path: bot.add_feed(site.url(path)) for path in paths}
    bot.clock.advance(timedelta(minutes=-1))
    for path in paths:
        site.serve(path, rss(item(f"Patriot {path} old", path, hours_ago(bot, 1))), etag='"v1"')
    assert (await bot.poll()).fetched == 3
    alerts, items = bot.outbox(), bot.item_count()
    assert bot.pipeline is not None
    members = len(bot.pipeline.stories.index)
    assert bot.db is not None
    with bot.db.write() as session:  # /b's new items are refused
        session.execute(
            text(
                "CREATE TRIGGER refuse_b BEFORE INSERT ON items"
                f" WHEN new.feed_id = {ids['/b']}"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    for n, path in enumerate(paths):
        # distinct words: each new item starts its own story
        words = ("Patriot battery moved east", "Patriot radar repaired", "Patriot crews trained")
        fresh = item(words[n], f"{path}-2", hours_ago(bot, 0.5))
        site.serve(path, rss(fresh, item(f"Patriot {path} old", path, hours_ago(bot, 1))))
    summary = await bot.poll()

    assert (summary.fetched, summary.errors, summary.new_items) == (2, 1, 2)
    assert bot.item_count() == items + 2
    assert bot.outbox() == alerts + 2  # one alert per stored item, none from the failed try
    assert len(bot.pipeline.stories.index) == members + 2  # the rolled-back try left none
    failed = bot.feed(ids["/b"])
    assert failed.last_error is not None and "refused" in failed.last_error
    for path in ("/a", "/c"):
        assert bot.feed(ids[path]).last_error is None
