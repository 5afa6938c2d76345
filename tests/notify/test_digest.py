"""Daily digests on a controlled clock: local digest times across time zones and
DST changes, exactly one digest per channel and period (also across restarts),
a digest missed while the bot was down sent once, and stories with their sources.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import ChannelSpec
from bot.notify.digest import enqueue_due_digests
from bot.store import channels as channel_store
from bot.store.db import Database
from bot.store.schema import Digest, OutboxRow
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notify.conftest import Clock
from tests.notify.world import World

H = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def channels(db: Database, *specs: ChannelSpec) -> None:
    with db.write() as s:
        channel_store.sync_channels(s, list(specs), utc(2026, 1, 1))


def tick(db: Database, now: datetime) -> None:
    """One run of the digest job (a new transaction, as after a restart)."""
    with db.write() as s:
        enqueue_due_digests(s, now)


def periods(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        rows = s.execute(select(Digest.channel_id, Digest.period).order_by(Digest.id))
        return [(channel, period) for channel, period in rows]


def run_hourly(db: Database, start: datetime, hours: int, step: timedelta = H) -> list[str]:
    """Run the job every `step` from `start`; '<channel> <period> @ <utc time>' per new digest."""
    seen: list[str] = []
    now = start
    while now < start + hours * H:
        before = len(periods(db))
        tick(db, now)
        seen += sorted(f"{c} {p} @ {now:%m-%d %H:%M}" for c, p in periods(db)[before:])
        now += step
    return seen


@pytest.fixture
def db(sqlite_database: Database) -> Database:
    """Timing is the same on both databases; the store itself is tested end to end below."""
    return sqlite_database


def test_each_channel_gets_its_digest_at_its_local_time(db: Database) -> None:
    database = db
    channels(
        database,
        ChannelSpec(id="slack:TOKYO", timezone="Asia/Tokyo"),
        ChannelSpec(id="slack:KYIV", timezone="Europe/Kyiv"),
        ChannelSpec(id="slack:NY", timezone="America/New_York", digest_at="07:30"),
    )
    assert run_hourly(database, utc(2026, 11, 10, 12), 24, step=timedelta(minutes=30)) == [
        # at the first run, today's digest time has passed in Kyiv and Tokyo: sent now
        "slack:KYIV 2026-11-10 @ 11-10 12:00",
        "slack:TOKYO 2026-11-10 @ 11-10 12:00",
        "slack:NY 2026-11-10 @ 11-10 12:30",  # 07:30 EST
        "slack:TOKYO 2026-11-11 @ 11-10 23:00",  # 08:00 JST
        "slack:KYIV 2026-11-11 @ 11-11 06:00",  # 08:00 EET
    ]


def test_the_local_time_holds_across_dst_changes(db: Database) -> None:
    database = db
    channels(database, ChannelSpec(id="slack:BER", timezone="Europe/Berlin"))
    spring = run_hourly(database, utc(2026, 3, 28, 5), 27, step=timedelta(minutes=30))
    assert spring == [
        "slack:BER 2026-03-28 @ 03-28 07:00",  # 08:00 CET
        "slack:BER 2026-03-29 @ 03-29 06:00",  # 08:00 CEST, the day the clocks go forward
    ]
    autumn = run_hourly(database, utc(2026, 10, 24, 5), 27, step=timedelta(minutes=30))
    assert autumn == [
        "slack:BER 2026-10-24 @ 10-24 06:00",
        "slack:BER 2026-10-25 @ 10-25 07:00",  # back to CET
    ]


def test_a_digest_time_in_the_dst_gap_or_overlap_comes_once(db: Database) -> None:
    database = db
    channels(database, ChannelSpec(id="slack:BER", timezone="Europe/Berlin", digest_at="02:30"))
    # 02:30 does not exist on 29 March: the digest comes at 03:00 CEST (01:00 UTC)
    assert run_hourly(database, utc(2026, 3, 29, 0), 3, step=timedelta(minutes=15)) == [
        "slack:BER 2026-03-29 @ 03-29 01:00"
    ]
    # 02:30 happens twice on 25 October: the first one (00:30 UTC) only
    assert run_hourly(database, utc(2026, 10, 25, 0), 3, step=timedelta(minutes=15)) == [
        "slack:BER 2026-10-25 @ 10-25 00:30"
    ]


def test_one_digest_per_period_across_restarts_and_a_missed_one_once(db: Database) -> None:
    database = db
    channels(database, ChannelSpec(id="slack:C1", timezone="Europe/Kyiv"))
    tick(database, utc(2026, 11, 10, 6, 5))
    tick(database, utc(2026, 11, 10, 6, 6))  # the next minute, or a restarted bot
    assert periods(database) == [("slack:C1", "2026-11-10")]
    # down from 05:00 to 09:00 UTC the next day: the missed digest goes out once at start-up
    tick(database, utc(2026, 11, 11, 9))
    tick(database, utc(2026, 11, 11, 9, 1))
    assert periods(database) == [("slack:C1", "2026-11-10"), ("slack:C1", "2026-11-11")]


# -- what a digest holds, end to end ---------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 11, 10, 23, 10))


@pytest.fixture
async def world(
    database: Database, clock: Clock, slack_api: FakeSlackAPI, telegram_api: FakeTelegramAPI
) -> AsyncIterator[World]:
    w = World(database, clock, slack_api, telegram_api)
    w.channels(ChannelSpec(id="slack:C1", follows=["drones"], timezone="Europe/Kyiv"))
    yield w
    await w.aclose()


async def test_the_digest_lists_each_story_once_with_its_sources(world: World) -> None:
    for outlet, report in [
        ("Northwind Wire", "en-01a"),
        ("Harbor Post", "en-01b"),
        ("Meridian News", "en-01c"),
        ("Eastline Daily", "en-02b"),
    ]:
        world.publish(outlet, report)
        await world.poll()
        await world.drain()
        world.clock.advance(minutes=10)
    world.clock.now = utc(2026, 11, 11, 6)  # 08:00 in Kyiv
    with world.db.write() as s:
        assert enqueue_due_digests(s, world.clock()) == ["slack:C1"]
        payload = s.scalar(select(OutboxRow.payload).where(OutboxRow.kind == "digest"))
    assert payload is not None
    assert payload["title"] == "Skywatch digest — Wed 11 Nov 2026: 2 stories"
    (section,) = payload["sections"]
    kyiv, kharkiv = section["items"]
    assert kyiv["source_names"] == ["Northwind Wire", "Harbor Post", "Meridian News"]
    assert kharkiv["source_names"] == ["Eastline Daily"]

    world.slack.messages.clear()
    await world.drain()
    (message,) = world.slack.messages
    assert "3 sources" in str(message["blocks"])
    world.restart()  # a restarted bot: no second digest for the same day
    with world.db.write() as s:
        assert enqueue_due_digests(s, world.clock() + H) == []
