"""Quiet hours and mutes, end to end on a controlled clock: alerts and story
follow-ups are held, then either released when the window ends (policy
"release", the default) or folded into the next digest (policy "digest").
Never lost, never both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.config import ChannelSpec
from bot.notify.digest import enqueue_due_digests
from bot.notify.sender import QuietPolicy
from bot.store.db import Database
from bot.store.schema import Channel
from bot.update import enqueue_report
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notify.conftest import Clock
from tests.notify.world import World

#: 23:10 UTC is 01:10 in Kyiv (EET, UTC+2): inside its quiet hours
START = datetime(2026, 11, 10, 23, 10, tzinfo=UTC)
QUIET_ENDS = datetime(2026, 11, 11, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv
DIGEST_AT = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)  # 08:00 in Kyiv
KYIV = ChannelSpec(
    id="slack:C1", follows=["drones"], timezone="Europe/Kyiv", quiet="22:00-07:00", admin=True
)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def world(
    database: Database, clock: Clock, slack_api: FakeSlackAPI, telegram_api: FakeTelegramAPI
) -> AsyncIterator[World]:
    w = World(database, clock, slack_api, telegram_api)
    w.channels(KYIV)
    yield w
    await w.aclose()


async def a_story_at_night(world: World, policy: QuietPolicy = "release") -> None:
    """Two outlets report the Kyiv attack during the channel's quiet hours."""
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    await world.drain(policy)
    world.clock.advance(minutes=25)
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    await world.drain(policy)


def statuses(world: World) -> dict[str, str]:
    return {r.dedup_key: r.status for r in world.rows()}


async def test_release_holds_alerts_and_follow_ups_until_quiet_hours_end(world: World) -> None:
    await a_story_at_night(world)
    with world.db.write() as s:  # reports are never held
        enqueue_report(s, "x", "Feed X is failing", world.clock())
    await world.drain()
    assert [m["text"] for m in world.slack.messages] == ["Feed X is failing"]
    assert set(statuses(world).values()) == {"pending", "sent"}

    world.clock.now = QUIET_ENDS - timedelta(minutes=1)
    assert (await world.drain()).sent == 0
    world.clock.now = QUIET_ENDS
    assert (await world.drain()).sent == 1  # the alert, at 07:00 sharp
    world.clock.advance(minutes=15)
    assert (await world.drain()).sent == 1  # its follow-up, one interval later, in the thread
    _, alert, reply = world.slack.messages
    assert "Russian drones hit Kyiv" in alert["text"] and alert["thread_ts"] is None
    assert reply["thread_ts"] == alert["ts"] and reply["text"] == "Also reported by Harbor Post"


async def test_digest_policy_folds_held_alerts_into_the_next_digest(world: World) -> None:
    await a_story_at_night(world, "digest")
    # the follow-up is due after quiet hours (one interval after the held alert)
    assert statuses(world) == {"alert:slack:C1:1": "held", "thread:slack:C1:2": "pending"}
    world.clock.now = QUIET_ENDS + timedelta(minutes=30)  # quiet is over: still no ping
    assert (await world.drain("digest")).sent == 0
    assert statuses(world) == {"alert:slack:C1:1": "held", "thread:slack:C1:2": "held"}

    world.clock.now = DIGEST_AT
    with world.db.write() as s:
        assert enqueue_due_digests(s, world.clock()) == ["slack:C1"]
    await world.drain("digest")
    (digest,) = world.slack.messages
    assert digest["text"].startswith("Skywatch digest")
    body = str(digest["blocks"])
    assert "Russian drones hit Kyiv" in body and "2 sources" in body
    assert statuses(world) == {
        "alert:slack:C1:1": "folded",
        "thread:slack:C1:2": "folded",
        "digest:slack:C1:2026-11-11": "sent",
    }

    world.clock.advance(hours=1)  # after the digest, a new story pings as usual
    world.publish("Northwind Wire", "en-02a")
    await world.poll()
    assert (await world.drain("digest")).sent == 1
    assert "Kharkiv" in world.slack.messages[-1]["text"]


async def test_a_follow_up_of_a_held_story_is_held_with_it(world: World) -> None:
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    await world.drain("digest")
    world.clock.now = QUIET_ENDS + timedelta(minutes=10)  # quiet over, the alert still held
    world.publish("Harbor Post", "en-01b")
    await world.poll()
    await world.at(minutes=30, policy="digest")
    assert world.slack.messages == []
    assert set(statuses(world).values()) == {"held"}


async def test_switching_back_to_release_sends_what_was_held(world: World) -> None:
    await a_story_at_night(world, "digest")
    world.clock.now = QUIET_ENDS
    assert (await world.drain("release")).sent == 1
    await world.at(minutes=15)
    alert, reply = world.slack.messages
    assert reply["thread_ts"] == alert["ts"]


@pytest.mark.parametrize("policy", ["release", "digest"])
async def test_a_mute_holds_alerts_by_the_same_policy(world: World, policy: QuietPolicy) -> None:
    world.channels(ChannelSpec(id="slack:C1", follows=["drones"]))  # no quiet hours
    until = START + timedelta(hours=2)
    with world.db.write() as s:
        s.execute(update(Channel).values(muted_until=until))
    world.publish("Northwind Wire", "en-01a")
    await world.poll()
    assert (await world.drain(policy)).sent == 0
    world.clock.now = until
    sent = (await world.drain(policy)).sent
    assert (sent, statuses(world)["alert:slack:C1:1"]) == (
        (1, "sent") if policy == "release" else (0, "held")
    )
