"""Stories end to end: feeds → pipeline (match, cluster, one transaction) → outbox →
real Slack/Telegram clients → fake servers, on a controlled clock.

The first report of a story alerts; reports of the same story from other
outlets become one threaded follow-up per interval (Slack `thread_ts`,
Telegram `reply_parameters`), listing the new sources; a restart neither
re-alerts nor re-threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.config import ChannelSpec
from bot.store import channels as channel_store
from bot.store.db import Database
from bot.store.schema import OutboxRow
from tests.fakes.slack_api import FakeSlackAPI, slack_api  # noqa: F401  (fixture)
from tests.fakes.telegram_api import FakeTelegramAPI, telegram_api  # noqa: F401  (fixture)
from tests.notify.conftest import Clock
from tests.notify.world import World

SLACK = ChannelSpec(id="slack:C1", follows=["drones"])
TELEGRAM = ChannelSpec(id="telegram:-1001", follows=["drones"])


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 10, 23, 10, tzinfo=UTC))


@pytest.fixture
async def world(
    database: Database,
    clock: Clock,
    slack_api: FakeSlackAPI,  # noqa: F811
    telegram_api: FakeTelegramAPI,  # noqa: F811
) -> AsyncIterator[World]:
    w = World(database, clock, slack_api, telegram_api)
    w.channels(SLACK, TELEGRAM)
    yield w
    await w.aclose()


def heading(message: dict[str, object]) -> str:
    return str(message["text"])


async def test_a_story_from_several_outlets_alerts_once_and_threads_the_rest(
    world: World,
) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    assert (await world.drain()).sent == 2
    first_ts = world.slack.messages[0]["ts"]
    first_tg = world.tg.messages[0]["message_id"]
    assert world.slack.messages[0]["thread_ts"] is None

    world.clock.advance(minutes=25)
    world.publish("Harbor Post", "en-01b")  # the same story, another outlet
    world.publish("Northwind Wire", "en-02a")  # a different story (Kharkiv), same night
    await world.poll()
    assert (await world.drain()).sent == 4

    slack_reply, kharkiv = sorted(world.slack.messages[1:], key=lambda m: m["thread_ts"] is None)
    assert slack_reply["thread_ts"] == first_ts
    assert heading(slack_reply) == "Also reported by Harbor Post"
    assert kharkiv["thread_ts"] is None and "Kharkiv" in heading(kharkiv)
    replies = [m for m in world.tg.messages if m["reply_parameters"]]
    assert [m["reply_parameters"]["message_id"] for m in replies] == [first_tg]
    assert "Also reported by Harbor Post" in replies[0]["text"]

    assert world.story_of("en-01a") == world.story_of("en-01b") != world.story_of("en-02a")
    assert world.story_sizes() == [2, 1]
    kinds = sorted((r.channel_id, r.kind) for r in world.rows())
    assert kinds.count(("slack:C1", "thread")) == 1
    assert kinds.count(("slack:C1", "alert")) == 2


async def test_follow_ups_come_once_per_interval_and_collect_the_sources(world: World) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    await world.drain()
    world.clock.advance(minutes=1)
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    assert (await world.at(minutes=4)).sent == 0  # 5 min after the alert: not yet
    world.publish("Meridian News", "en-01c")
    await world.poll()
    assert (await world.at(minutes=9)).sent == 0  # 14 min
    assert (await world.at(minutes=1)).sent == 2  # 15 min: one reply per channel
    reply = world.slack.messages[-1]
    assert heading(reply) == "Also reported by Harbor Post, Meridian News"
    assert reply["thread_ts"] == world.slack.messages[0]["ts"]
    tg_reply = world.tg.messages[-1]
    assert "Harbor Post" in tg_reply["text"] and "Meridian News" in tg_reply["text"]

    world.clock.advance(minutes=5)  # 20 min: a fourth outlet, after the reply went out
    world.publish("Civic Ledger", "en-01d")
    await world.poll()
    assert (await world.drain()).sent == 0  # the next reply waits a whole interval
    assert (await world.at(minutes=9)).sent == 0  # 29 min
    assert (await world.at(minutes=1)).sent == 2  # 30 min
    assert heading(world.slack.messages[-1]) == "Also reported by Civic Ledger"
    assert world.slack.messages[-1]["thread_ts"] == world.slack.messages[0]["ts"]
    assert len(world.slack.messages) == 3 and world.story_sizes() == [4]


async def test_a_restart_neither_realerts_nor_rethreads(world: World) -> None:
    world.publish("Northwind Wire", "en-01a")
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    await world.at(minutes=20)
    before = [(r.dedup_key, r.status) for r in world.rows()]
    assert [k for k, _ in before] == [
        "alert:slack:C1:1", "alert:telegram:-1001:1",
        "thread:slack:C1:2", "thread:telegram:-1001:2",
    ]  # fmt: skip

    world.restart()  # a new process: the story index is rebuilt from the store
    await world.poll()  # the same feeds again
    await world.at(minutes=20)
    assert [(r.dedup_key, r.status) for r in world.rows()] == before
    assert len(world.slack.messages) == 2

    world.publish("Meridian News", "en-01c")  # joins the story through the rebuilt index
    await world.poll()
    await world.at(minutes=20)
    new = [r for r in world.rows()][len(before) :]
    assert [r.kind for r in new] == ["thread", "thread"]
    assert world.slack.messages[-1]["thread_ts"] == world.slack.messages[0]["ts"]
    assert world.story_sizes() == [3]


async def test_a_channel_that_follows_later_gets_the_story_as_an_alert(world: World) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    await world.drain()
    world.channels(SLACK, TELEGRAM, ChannelSpec(id="slack:C2", follows=["drones"]))
    world.clock.advance(minutes=30)
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    await world.drain()
    c2 = [m for m in world.slack.messages if m["channel"] == "C2"]
    assert len(c2) == 1 and c2[0]["thread_ts"] is None
    assert "Three dead as Russia launches drone attack on Kyiv" in heading(c2[0])
    c1 = [m for m in world.slack.messages if m["channel"] == "C1"]
    assert c1[1]["thread_ts"] == c1[0]["ts"]


async def test_a_follow_up_waits_for_its_unsent_first_alert(world: World) -> None:
    world.slack.inject("chat.postMessage", "server_error")
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    assert (await world.drain()).retried == 1  # the Slack alert failed
    world.clock.advance(minutes=1)
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    retry_at = world.clock() + timedelta(hours=1)
    with world.db.write() as s:  # the alert failed again: its next try is an hour away
        s.execute(
            update(OutboxRow).where(OutboxRow.kind == "alert", OutboxRow.status == "pending")
            .values(due_at=retry_at)
        )  # fmt: skip
    await world.at(minutes=20)  # the follow-up is due, its parent is not
    assert world.slack.messages == []
    world.clock.now = retry_at
    await world.drain()
    await world.at(minutes=1)
    alert, reply = world.slack.messages
    assert alert["thread_ts"] is None and reply["thread_ts"] == alert["ts"]
    assert heading(reply) == "Also reported by Harbor Post"


async def test_a_follow_up_whose_first_alert_died_goes_out_as_an_alert(world: World) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    with world.db.write() as s:  # as if Slack had refused the first alert for good
        s.execute(update(OutboxRow).where(OutboxRow.kind == "alert").values(status="dead"))
    world.clock.advance(minutes=1)
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    await world.drain()
    (message,) = world.slack.messages
    assert message["thread_ts"] is None
    assert "Three dead as Russia launches drone attack on Kyiv" in heading(message)
    assert {r.kind for r in world.rows() if r.status == "sent"} == {"alert"}


async def test_a_paused_channel_keeps_its_alert_and_threads_after_resuming(
    world: World,
) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    with world.db.write() as s:
        channel_store.pause_channel(s, "slack:C1", "channel_not_found", world.clock())
    world.clock.advance(minutes=20)
    world.publish("Harbor Post", "en-01b")  # a paused channel gets nothing new
    await world.poll()
    await world.drain()
    assert world.slack.messages == []
    with world.db.write() as s:
        channel_store.resume_channel(s, "slack:C1", world.clock())
    await world.drain()
    (alert,) = world.slack.messages  # the kept alert
    world.publish("Meridian News", "en-01c")
    await world.poll()
    await world.at(minutes=20)
    assert world.slack.messages[-1]["thread_ts"] == alert["ts"]
    assert heading(world.slack.messages[-1]) == "Also reported by Meridian News"
