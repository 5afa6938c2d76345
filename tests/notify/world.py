"""A small world for story and delivery tests: feeds that publish labelled stories,
the real pipeline (parse, match, cluster, store) and the real notifiers talking to
the fake Slack and Telegram servers, all on one controlled clock.

    world = World(db, clock, slack, telegram)
    world.channels(ChannelSpec(id="slack:C1", follows=["drones"]))
    world.publish("Northwind Wire", "en-01a")      # the outlet's feed now carries it
    await world.poll()                              # fetch every feed, write one transaction
    await world.drain()                             # deliver what is due
"""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select

from bot.config import ChannelSpec, Settings
from bot.feeds.parse import parse_feed
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.notify.base import Notifier
from bot.notify.console import ConsoleNotifier
from bot.notify.pacing import Pacer
from bot.notify.sender import QuietPolicy, SendSummary, drain_outbox
from bot.notify.slack import SlackNotifier
from bot.notify.telegram import TelegramNotifier
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.store.schema import ItemRow, OutboxRow, Story
from bot.types import FeedForUpdate, Fetched, ParsedFeed, PollSummary
from bot.update import Pipeline
from tests.conftest import REPO
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notify.conftest import Clock

STORIES = REPO / "tests" / "data" / "stories"

#: one topic that every drone story matches (by title or summary)
TOPICS = {
    "drones": TopicSpec.model_validate({"concepts": {"d": ["drone(s)"]}, "any": ["d"]}),
    "rates": TopicSpec.model_validate(
        {"concepts": {"r": ["interest rate(s)", "rate cut", "rates"]}, "any": ["r"]}
    ),
}


def labelled(lang: str = "en") -> dict[str, dict[str, Any]]:
    """The labelled reports of tests/data/stories/<lang>.jsonl, by id."""
    with (STORIES / f"{lang}.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {row["id"]: row for row in rows}


@dataclass(frozen=True)
class Entry:
    guid: str
    title: str
    summary: str
    published: datetime


def rss(title: str, entries: list[Entry]) -> bytes:
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>https://{slug(title)}.example/{e.guid}"
        f"</link><guid>{e.guid}</guid><pubDate>{format_datetime(e.published)}</pubDate>"
        f"<description>{escape(e.summary)}</description></item>"
        for e in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://{slug(title)}.example/</link>"
        f"<language>en</language>{items}</channel></rss>"
    ).encode()


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


class Outlets:
    """The fetcher: each outlet's feed serves what was published to it so far."""

    def __init__(self) -> None:
        self.entries: dict[str, list[Entry]] = defaultdict(list)
        self.titles: dict[str, str] = {}

    def url(self, outlet: str) -> str:
        return f"https://{slug(outlet)}.example/rss"

    async def fetch(self, feed: FeedForUpdate) -> Fetched:
        title = self.titles[feed.url]
        body = rss(title, self.entries[feed.url])
        return Fetched(url=feed.url, body=body, headers={"content-type": "application/rss+xml"})


def fake_notifiers(
    slack: FakeSlackAPI, tg: FakeTelegramAPI, console: io.StringIO
) -> tuple[TelegramNotifier, dict[str, Notifier]]:
    """The real notifiers, unpaced, talking to the fakes; the Telegram one is returned
    apart too, as the caller must close its HTTP client."""
    telegram = TelegramNotifier("1:test-token", base_url=tg.url, pacer=Pacer.unlimited(), timeout=1)
    slack_notifier = SlackNotifier("xoxb-t", base_url=slack.url, pacer=Pacer.unlimited(), timeout=1)
    return telegram, {
        "slack": slack_notifier,
        "telegram": telegram,
        "console": ConsoleNotifier(stream=console),
    }


class Parser:
    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        return parse_feed(body, headers, url)


class World:
    """The bot under test, minus the scheduler: poll and drain are called by the test."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        slack: FakeSlackAPI,
        tg: FakeTelegramAPI,
        *,
        followup: timedelta = timedelta(minutes=15),
    ) -> None:
        self.db, self.clock, self.slack, self.tg = db, clock, slack, tg
        self.outlets = Outlets()
        self.followup = followup
        self.stories = labelled("en")
        self.console = io.StringIO()
        self.telegram, self.notifiers = fake_notifiers(slack, tg, self.console)
        self.pipeline = self.restart()

    def restart(self) -> Pipeline:
        """A new Pipeline on the same database, as after a process restart."""
        self.pipeline = Pipeline(
            self.db,
            self.outlets,
            Parser(),
            TopicMatcher.compile(TOPICS),
            Settings(followup_interval=self.followup),
            clock=self.clock,
            rng=random.Random(1),
        )
        return self.pipeline

    def channels(self, *specs: ChannelSpec) -> None:
        with self.db.write() as s:
            channel_store.sync_channels(s, list(specs), self.clock())

    def publish(self, outlet: str, story_id: str, *, guid: str | None = None) -> None:
        """The outlet publishes the labelled report `story_id` now (adding its feed if new)."""
        url = self.outlets.url(outlet)
        if url not in self.outlets.titles:
            self.outlets.titles[url] = outlet
            with self.db.write() as s:
                feed = feed_store.add_feed(s, url, self.clock() - timedelta(hours=1), name=outlet)
                # as `lang: en` in feeds.yaml (the fast RSS parser leaves <language> out)
                feed.lang = "en"
        row = self.stories[story_id]
        # a minute ago: on a first poll, an item stamped "now" has an unknown age and stays quiet
        published = self.clock() - timedelta(minutes=1)
        entry = Entry(guid or story_id, row["title"], row["summary"], published)
        self.outlets.entries[url].append(entry)

    async def poll(self) -> PollSummary:
        with self.db.write() as s:
            feed_store.make_all_due(s, self.clock())
        return await self.pipeline.poll_due()

    async def drain(self, policy: QuietPolicy = "release") -> SendSummary:
        return await drain_outbox(
            self.db, self.notifiers, now=self.clock, rng=random.Random(5), quiet_policy=policy
        )

    async def at(self, minutes: float, policy: QuietPolicy = "release") -> SendSummary:
        """Move the clock on, then deliver what is due."""
        self.clock.advance(minutes=minutes)
        return await self.drain(policy)

    def rows(self) -> list[OutboxRow]:
        with self.db.read() as s:
            return list(s.scalars(select(OutboxRow).order_by(OutboxRow.id)))

    def story_of(self, report: str) -> int | None:
        """The story of the stored item of a labelled report (found by its title)."""
        title = self.stories[report]["title"]
        with self.db.read() as s:
            return s.scalar(select(ItemRow.story_id).where(ItemRow.title == title))

    def story_sizes(self) -> list[int]:
        with self.db.read() as s:
            return list(s.scalars(select(Story.item_count).order_by(Story.id)))

    async def aclose(self) -> None:
        await self.telegram.aclose()
