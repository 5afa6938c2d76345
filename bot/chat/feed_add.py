"""`feeds add URL` from chat: probe the URL through the guarded Fetcher, then store the feed.

The URL is checked before anything is fetched: http(s) only, no credentials,
no address on this machine or a private network (the Fetcher's guard, on every
redirect hop too: RELIABILITY A1, D1). A site URL is resolved to the feed its
page advertises (`bot.feeds.probe`). Only a URL that parses as a feed is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.chat.commands import FeedAddResult
from bot.feeds.probe import UrlFetcher, probe_feed
from bot.store import feeds as feed_store
from bot.store.db import Database

#: `feeds.origin` of feeds added from chat
ORIGIN = "chat"


def make_add_feed(
    db: Database, fetcher: UrlFetcher, clock: Callable[[], datetime]
) -> Callable[[str], Awaitable[FeedAddResult]]:
    """The `add_feed` service of `Commands`: probe, then store; raises BotError subclasses."""

    async def add_feed(url: str) -> FeedAddResult:
        probed = await probe_feed(fetcher, url.strip())
        return await asyncio.to_thread(
            _store, db, probed.url, probed.title, len(probed.parsed.items), clock()
        )

    return add_feed


def _store(db: Database, url: str, title: str, count: int, now: datetime) -> FeedAddResult:
    with db.write() as session:
        feed = feed_store.add_feed(session, url, now, name=title[:500], origin=ORIGIN)
        return FeedAddResult(feed_id=feed.id, url=url, title=title, item_count=count)
