"""The search index in the running app: a poll stores items without indexing them, the chat
`search` finds them at once all the same, and the index catches up after the poll (the
scheduler's poll job, `run --once`), logging how many items and how long."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.app import App
from bot.config import load_config
from bot.store.db import Database
from bot.store.schema import ItemRow
from tests.chat.conftest import make_ctx
from tests.real_process import serve_feed
from tests.test_app_chat import wait_for, write_config

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback Desk</title><link>http://localhost/</link>
<item><title>Patriot batteries arrive in Rzeszów</title><link>http://localhost/1</link>
<guid>1</guid><pubDate>{date}</pubDate></item>
<item><title>Gas prices fall again</title><link>http://localhost/2</link>
<guid>2</guid><pubDate>{date}</pubDate></item>
</channel></rss>"""


@pytest.fixture
def feed_url() -> Iterator[str]:
    with serve_feed(lambda: FEED.format(date=formatdate(usegmt=True)).encode()) as url:
        yield url


def make_app(tmp_path: Path, feed_url: str) -> App:
    settings = {"allow_private_hosts": "[localhost]"}
    feeds = f"[{{url: '{feed_url}', name: Loopback Desk}}]"
    return App(load_config(write_config(tmp_path, settings, feeds)), console=io.StringIO())


def counts(db: Database) -> tuple[int, int]:
    """(items stored, items waiting to be indexed)"""
    with db.read() as session:
        items = session.scalar(select(func.count()).select_from(ItemRow))
        waiting = session.execute(text("SELECT count(*) FROM items_fts_pending")).scalar()
    return int(items or 0), int(waiting or 0)


async def search(app: App, query: str) -> str:
    assert app.commands is not None
    return (await app.commands.handle(make_ctx(), f"search {query}")).plain()


async def test_an_item_stored_by_a_poll_is_found_at_once_and_indexed_after_it(
    tmp_path: Path, feed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_app(tmp_path, feed_url) as app:
        summary = await app.poll()
        assert summary.new_items == 2
        assert counts(app.db) == (2, 2)  # the poll itself does not index
        assert "Patriot batteries arrive in Rzeszów" in await search(app, "rzeszów")
        with caplog.at_level(logging.INFO, logger="bot.app"):
            assert await app.index() == 2
        assert counts(app.db) == (2, 0)
        assert "Patriot batteries arrive in Rzeszów" in await search(app, "rzeszów")
        assert "Gas prices fall again" in await search(app, "prices")
        assert await app.index() == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert len(logged) == 1 and logged[0].startswith("index: 2 items made searchable in ")


async def test_run_once_indexes_after_polling(tmp_path: Path, feed_url: str) -> None:
    async with make_app(tmp_path, feed_url) as app:
        await app.run_once()
        assert counts(app.db) == (2, 0)


async def test_the_scheduled_poll_job_indexes_after_each_poll(
    tmp_path: Path, feed_url: str
) -> None:
    async with make_app(tmp_path, feed_url) as app:
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: counts(app.db) == (2, 0))
        app.stop()
        await asyncio.wait_for(task, 10)
