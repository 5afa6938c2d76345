"""The outbox sender end to end: store (SQLite and PostgreSQL) → real clients → fake servers.

Every fault of RELIABILITY B6–B11 that the sender can meet, with the clock
under the test's control: 429 waits exactly, 5xx backs off, a timeout or cut
connection is retried (and Slack finds the first copy), a gone channel is
paused with one admin report and nothing dropped, a migrated Telegram group is
followed, and a sender that dies between claim and mark is recovered by the
lease with the message delivered exactly once.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.config import ChannelSpec
from bot.notify import sender
from bot.notify.base import OutgoingMessage, Receipt
from bot.notify.sender import LEASE, MAX_ATTEMPTS, SendSummary, backoff, drain_outbox
from bot.store import channels as channel_store
from bot.store import outbox
from bot.store.db import Database
from bot.store.schema import Channel, OutboxRow
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notify.builders import alert, digest
from tests.notify.conftest import Clock
from tests.notify.world import fake_notifiers

# PTB 22 warns inside RetryAfter.__init__ about retry_after becoming a timedelta.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*`retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)


class Bot:
    """The system under test: a database, notifiers for the fakes, and the console."""

    def __init__(
        self, db: Database, clock: Clock, slack: FakeSlackAPI, tg: FakeTelegramAPI
    ) -> None:
        self.db, self.clock, self.slack, self.tg = db, clock, slack, tg
        self.console = io.StringIO()
        self.telegram, self.notifiers = fake_notifiers(slack, tg, self.console)

    def channels(self, *specs: ChannelSpec) -> None:
        with self.db.write() as s:
            channel_store.sync_channels(s, list(specs), self.clock())

    def alert(self, channel_id: str, item: int, title: str | None = None) -> None:
        with self.db.write() as s:
            outbox.enqueue(
                s, channel_id=channel_id, kind="alert", dedup_key=f"alert:{channel_id}:{item}",
                payload=alert(title or f"Story {item}"), now=self.clock(),
            )  # fmt: skip

    async def drain(self, **kw: Any) -> SendSummary:
        return await drain_outbox(
            self.db, self.notifiers, now=self.clock, rng=random.Random(5), **kw
        )

    def rows(self) -> dict[str, OutboxRow]:
        with self.db.read() as s:
            return {r.dedup_key: r for r in s.scalars(select(OutboxRow).order_by(OutboxRow.id))}

    def slack_titles(self, channel: str | None = None) -> list[str]:
        return [
            m["text"].split(" — ")[0]
            for m in self.slack.messages
            if channel is None or m["channel"] == channel
        ]


@pytest.fixture
async def bot(
    database: Database, clock: Clock, slack_api: FakeSlackAPI, telegram_api: FakeTelegramAPI
) -> AsyncIterator[Bot]:
    b = Bot(database, clock, slack_api, telegram_api)
    yield b
    await b.telegram.aclose()


def slack(channel: str = "C1", **kw: Any) -> ChannelSpec:
    return ChannelSpec(id=f"slack:{channel}", **kw)


async def test_delivers_each_due_row_once_and_records_message_ids(bot: Bot) -> None:
    bot.channels(slack("C1"), ChannelSpec(id="telegram:-1001"), ChannelSpec(id="console"))
    for i in (1, 2, 3):
        bot.alert("slack:C1", i)
    bot.alert("telegram:-1001", 4)
    bot.alert("console", 5)
    summary = await bot.drain()
    assert summary.sent == 5 and summary.errors == []
    assert bot.slack_titles() == ["Story 1", "Story 2", "Story 3"]  # in order within a channel
    assert [m["chat_id"] for m in bot.tg.messages] == ["-1001"]
    assert "━━ Story 5" in bot.console.getvalue()
    rows = bot.rows()
    assert {r.status for r in rows.values()} == {"sent"}
    assert rows["alert:slack:C1:1"].message_id == bot.slack.messages[0]["ts"]
    assert rows["alert:telegram:-1001:4"].message_id == str(bot.tg.messages[0]["message_id"])
    assert (await bot.drain()).sent == 0
    assert len(bot.slack.messages) == 3


async def test_slack_429_waits_exactly_retry_after_and_holds_the_whole_channel(bot: Bot) -> None:
    bot.channels(slack("C1"), slack("C2"))
    bot.alert("slack:C1", 1)
    bot.alert("slack:C1", 2)
    bot.alert("slack:C2", 3)
    bot.slack.inject("chat.postMessage", "ratelimited", retry_after=3, channel="C1")
    start = bot.clock()
    summary = await bot.drain()
    assert (summary.sent, summary.deferred) == (1, 1)
    assert bot.slack_titles() == ["Story 3"]  # other channels are not held
    rows = bot.rows()
    for key in ("alert:slack:C1:1", "alert:slack:C1:2"):
        assert rows[key].status == "pending"
        assert rows[key].due_at == start + timedelta(seconds=3)  # exactly, and for both rows
        assert rows[key].attempts == 0  # a 429 is not a failed attempt
    bot.clock.advance(seconds=2.9)
    assert (await bot.drain()).sent == 0
    bot.clock.advance(seconds=0.1)
    assert (await bot.drain()).sent == 2
    assert bot.slack_titles("C1") == ["Story 1", "Story 2"]  # each exactly once


async def test_telegram_flood_control_waits_exactly_retry_after(bot: Bot) -> None:
    bot.channels(ChannelSpec(id="telegram:-1001"))
    bot.alert("telegram:-1001", 1)
    bot.tg.inject("sendMessage", "retry_after", retry_after=3)
    start = bot.clock()
    await bot.drain()
    assert bot.rows()["alert:telegram:-1001:1"].due_at == start + timedelta(seconds=3)
    bot.clock.advance(seconds=2)
    assert (await bot.drain()).sent == 0
    bot.clock.advance(seconds=1)
    assert (await bot.drain()).sent == 1
    assert len(bot.tg.messages) == 1


async def test_server_errors_retry_with_exponential_backoff(bot: Bot) -> None:
    bot.channels(slack("C1"))
    bot.alert("slack:C1", 1)
    bot.slack.inject("chat.postMessage", "server_error", times=2)
    start = bot.clock()
    assert (await bot.drain()).retried == 1
    first = bot.rows()["alert:slack:C1:1"]
    assert (first.status, first.attempts) == ("pending", 1)
    assert start + timedelta(seconds=15) <= first.due_at <= start + timedelta(seconds=30)
    assert "HTTP 500" in (first.last_error or "")
    bot.clock.now = first.due_at
    assert (await bot.drain()).retried == 1
    second = bot.rows()["alert:slack:C1:1"]
    assert second.attempts == 2
    assert (
        first.due_at + timedelta(seconds=30)
        <= second.due_at
        <= first.due_at + timedelta(seconds=60)
    )
    bot.clock.now = second.due_at - timedelta(seconds=1)
    assert (await bot.drain()).sent == 0
    bot.clock.now = second.due_at
    assert (await bot.drain()).sent == 1
    assert len(bot.slack.messages) == 1


BAD_ANSWERS = [
    pytest.param({}, id="200-not-json"),  # application/json, body "{not json"
    pytest.param({"body": ""}, id="200-empty"),
    pytest.param(
        {
            "status": 502,
            "body": "<html>\n<h1>Bad Gateway</h1>\n</html>",
            "content_type": "text/html",
        },
        id="html-502",
    ),
]


@pytest.mark.parametrize("platform", ["slack", "telegram"])
@pytest.mark.parametrize("answer", BAD_ANSWERS)
async def test_an_unreadable_answer_backs_off_quietly_and_is_delivered_once(
    bot: Bot, platform: str, answer: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    channel_id, fake, method = {
        "slack": ("slack:C1", bot.slack, "chat.postMessage"),
        "telegram": ("telegram:-1001", bot.tg, "sendMessage"),
    }[platform]
    bot.channels(ChannelSpec(id=channel_id))
    bot.alert(channel_id, 1)
    fake.inject(method, "bad_answer", **answer)
    start = bot.clock()
    assert (await bot.drain()).retried == 1
    row = bot.rows()[f"alert:{channel_id}:1"]
    assert (row.status, row.attempts) == ("pending", 1)
    assert start + timedelta(seconds=15) <= row.due_at <= start + timedelta(seconds=30)
    error = row.last_error or ""
    assert "internal error" not in error and "\n" not in error and "<html>" not in error
    assert not [r.getMessage() for r in caplog.records if r.exc_info]  # no traceback
    assert not [r for r in caplog.records if "\n" in r.getMessage() + str(r.__dict__.get("error"))]
    bot.clock.now = row.due_at - timedelta(seconds=1)
    assert (await bot.drain()).sent == 0
    bot.clock.now = row.due_at
    assert (await bot.drain()).sent == 1
    bot.clock.advance(hours=1)
    assert (await bot.drain()).sent == 0
    assert len(fake.messages) == 1
    assert bot.rows()[f"alert:{channel_id}:1"].status == "sent"


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempts in range(1, 40):
        delay = backoff(attempts, rng)
        full = min(timedelta(seconds=30) * 2 ** (attempts - 1), timedelta(hours=1))
        assert full / 2 <= delay <= full
    assert backoff(MAX_ATTEMPTS, random.Random(2)) <= timedelta(hours=1)


async def test_a_timeout_is_retried_and_delivered_once(bot: Bot) -> None:
    bot.channels(slack("C1"))
    bot.alert("slack:C1", 1)
    bot.slack.inject("chat.postMessage", "hang")
    assert (await bot.drain()).retried == 1
    row = bot.rows()["alert:slack:C1:1"]
    assert (row.last_error or "").startswith(outbox.MAYBE_SENT)
    bot.clock.now = row.due_at
    assert (await bot.drain()).sent == 1
    assert len(bot.slack.messages) == 1


async def test_slack_reset_after_accept_is_not_sent_twice(bot: Bot) -> None:
    bot.channels(slack("C1"))
    bot.alert("slack:C1", 1)
    bot.slack.inject("chat.postMessage", "reset_after_accept")
    await bot.drain()
    assert len(bot.slack.messages) == 1  # Slack has it, we do not know
    bot.clock.now = bot.rows()["alert:slack:C1:1"].due_at
    assert (await bot.drain()).sent == 1
    assert len(bot.slack.messages) == 1  # found by its metadata delivery id (B7)
    assert bot.rows()["alert:slack:C1:1"].message_id == bot.slack.messages[0]["ts"]


async def test_telegram_reset_after_accept_is_the_documented_duplicate(bot: Bot) -> None:
    # Telegram offers no way to look a message up: this is the window the
    # sender's docstring names. At most one extra copy, never more.
    bot.channels(ChannelSpec(id="telegram:-1001"))
    bot.alert("telegram:-1001", 1)
    bot.tg.inject("sendMessage", "reset_after_accept")
    await bot.drain()
    bot.clock.now = bot.rows()["alert:telegram:-1001:1"].due_at
    await bot.drain()
    bot.clock.advance(hours=2)
    await bot.drain()
    assert [m["text"] for m in bot.tg.messages].count(bot.tg.messages[0]["text"]) == 2
    assert bot.rows()["alert:telegram:-1001:1"].status == "sent"


async def test_rejected_html_is_resent_as_plain_text(bot: Bot) -> None:
    bot.channels(ChannelSpec(id="telegram:-1001"))
    bot.alert("telegram:-1001", 1, title="<b>bold</b> & co")
    bot.tg.inject("sendMessage", "parse_entities")
    assert (await bot.drain()).sent == 1
    [sent] = bot.tg.messages
    assert sent["parse_mode"] is None
    assert sent["text"].startswith("<b>bold</b> & co (https://")


@pytest.mark.parametrize(
    ("channel_id", "inject"),
    [
        ("slack:C1", ("chat.postMessage", "channel_not_found")),
        ("slack:C1", ("chat.postMessage", "not_in_channel")),
        ("telegram:-1001", ("sendMessage", "kicked")),
    ],
)
async def test_a_gone_channel_is_paused_reported_once_and_its_rows_kept(
    bot: Bot, channel_id: str, inject: tuple[str, str]
) -> None:
    bot.channels(ChannelSpec(id=channel_id), ChannelSpec(id="console", admin=True))
    bot.alert(channel_id, 1)
    bot.alert(channel_id, 2)
    fake = bot.slack if channel_id.startswith("slack") else bot.tg
    fake.inject(*inject)
    assert (await bot.drain()).paused == 1
    for _ in range(3):
        bot.clock.advance(minutes=10)
        summary = await bot.drain()
        assert summary.paused == 0
    reports = bot.console.getvalue().count(f"!! Paused {channel_id}: ")
    assert reports == 1
    rows = bot.rows()
    kept = [rows[f"alert:{channel_id}:{i}"] for i in (1, 2)]
    assert [(r.status, r.attempts) for r in kept] == [("pending", 0), ("pending", 0)]
    assert fake.messages == []
    with bot.db.write() as s:
        assert channel_store.resume_channel(s, channel_id, bot.clock())
    assert (await bot.drain()).sent == 2
    assert len(fake.messages) == 2


async def test_a_migrated_group_is_followed_with_its_rows(bot: Bot) -> None:
    bot.channels(ChannelSpec(id="telegram:-123", follows=[]))
    bot.alert("telegram:-123", 1)
    bot.alert("telegram:-123", 2)
    bot.tg.migrated["-123"] = -100123
    summary = await bot.drain()
    assert (summary.migrated, summary.sent) == (1, 2)
    assert [m["chat_id"] for m in bot.tg.messages] == ["-100123", "-100123"]
    with bot.db.read() as s:
        assert s.get(Channel, "telegram:-123") is None
        assert s.get(Channel, "telegram:-100123") is not None
        assert channel_store.channels_for_topics(s, ["war"]) == ["telegram:-100123"]
    assert {r.channel_id for r in bot.rows().values()} == {"telegram:-100123"}


@pytest.mark.parametrize("platform", ["slack", "telegram"])
async def test_a_sender_killed_between_claim_and_mark_is_recovered_exactly_once(
    bot: Bot, platform: str
) -> None:
    channel_id = "slack:C1" if platform == "slack" else "telegram:-1001"
    bot.channels(ChannelSpec(id=channel_id))
    bot.alert(channel_id, 1)
    with bot.db.write() as s:  # the dead sender's claim, never marked
        assert outbox.claim_next(s, channel_id, bot.clock(), lease=LEASE) is not None
    assert (await bot.drain()).sent == 0  # still leased
    bot.clock.advance(seconds=LEASE.total_seconds() - 1)
    assert (await bot.drain()).sent == 0
    bot.clock.advance(seconds=2)
    assert (await bot.drain()).sent == 1
    bot.clock.advance(hours=1)
    assert (await bot.drain()).sent == 0
    fake = bot.slack if platform == "slack" else bot.tg
    assert len(fake.messages) == 1
    assert bot.rows()[f"alert:{channel_id}:1"].status == "sent"


async def test_a_rejected_message_is_dead_and_reported(bot: Bot) -> None:
    bot.channels(slack("C1"), ChannelSpec(id="console", admin=True))
    bot.alert("slack:C1", 1)
    bot.alert("slack:C1", 2)
    bot.slack.inject("chat.postMessage", "msg_too_long")
    assert (await bot.drain()).dead == 1
    await bot.drain()
    rows = bot.rows()
    assert rows["alert:slack:C1:1"].status == "dead"
    assert rows["alert:slack:C1:2"].status == "sent"  # the channel is fine
    assert bot.console.getvalue().count("!! Gave up a alert to slack:C1") == 1


async def test_transient_errors_give_up_only_after_max_attempts(bot: Bot) -> None:
    bot.channels(slack("C1"), ChannelSpec(id="console", admin=True))
    bot.alert("slack:C1", 1)
    with bot.db.write() as s:
        s.execute(update(OutboxRow).values(attempts=MAX_ATTEMPTS - 2))
    bot.slack.inject("chat.postMessage", "server_error", times=2)
    await bot.drain()
    assert bot.rows()["alert:slack:C1:1"].status == "pending"
    bot.clock.advance(hours=2)
    assert (await bot.drain()).dead == 1
    row = bot.rows()["alert:slack:C1:1"]
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)
    await bot.drain()
    assert f"after {MAX_ATTEMPTS} attempts" in bot.console.getvalue()


async def test_channels_without_a_notifier_wait(bot: Bot) -> None:
    bot.channels(slack("C1"))
    bot.alert("slack:C1", 1)
    del bot.notifiers["slack"]
    assert (await bot.drain()).sent == 0
    assert bot.rows()["alert:slack:C1:1"].status == "pending"


async def test_limit_caps_one_drain(bot: Bot) -> None:
    bot.channels(slack("C1"), slack("C2"))
    for i in range(4):
        bot.alert("slack:C1", i)
        bot.alert("slack:C2", 10 + i)
    assert (await bot.drain(limit=3)).sent == 3
    assert (await bot.drain(limit=100)).sent == 5


class Exploding:
    platform = "console"

    async def send(self, message: OutgoingMessage) -> Receipt:
        raise RuntimeError("renderer bug")


async def test_a_crashing_notifier_loses_nothing(bot: Bot) -> None:
    bot.channels(ChannelSpec(id="console"))
    bot.alert("console", 1)
    bot.notifiers["console"] = Exploding()
    summary = await bot.drain()
    assert summary.retried == 1 and "renderer bug" in summary.errors[0]
    row = bot.rows()["alert:console:1"]
    assert (row.status, row.attempts) == ("pending", 1)


async def test_concurrent_drains_send_each_row_once(bot: Bot) -> None:
    bot.channels(slack("C1"), slack("C2"), ChannelSpec(id="telegram:-1001"))
    for i in range(6):
        for channel_id in ("slack:C1", "slack:C2", "telegram:-1001"):
            bot.alert(channel_id, i)
    results = await asyncio.gather(bot.drain(), bot.drain(), bot.drain())
    assert sum(r.sent for r in results) == 18
    assert len(bot.slack.messages) == 12 and len(bot.tg.messages) == 6
    assert {r.status for r in bot.rows().values()} == {"sent"}


def test_migrated_ids_keep_the_forum_topic() -> None:
    assert sender._migrated_id("telegram:-123", "-100123") == "telegram:-100123"
    assert sender._migrated_id("telegram:-123/7", "-100123") == "telegram:-100123/7"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_slack_429_in_real_time_is_posted_once_after_retry_after(
    database: Database, slack_api: FakeSlackAPI, telegram_api: FakeTelegramAPI
) -> None:
    # B6 with the wall clock: the send job keeps draining; nothing is posted early.
    from bot.update import utcnow

    b = Bot(database, Clock(utcnow()), slack_api, telegram_api)
    b.clock = utcnow  # type: ignore[assignment]
    try:
        b.channels(slack("C1"))
        b.alert("slack:C1", 1)
        slack_api.inject("chat.postMessage", "ratelimited", retry_after=2)
        started = utcnow()
        first = await b.drain()
        assert first.deferred == 1, first.errors
        deadline = started + timedelta(seconds=30)
        while not slack_api.messages and utcnow() < deadline:
            await asyncio.sleep(0.1)
            await b.drain()
        row = b.rows()["alert:slack:C1:1"]
        assert row.status == "sent", row.last_error
        assert row.sent_at is not None and row.sent_at - started >= timedelta(seconds=2)
        await b.drain()
        assert len(slack_api.messages) == 1
        assert [m for m, _ in slack_api.calls].count("chat.postMessage") == 2
    finally:
        await b.telegram.aclose()


async def test_a_failed_mark_is_recovered_by_the_lease_without_a_slack_duplicate(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process "dies" between send and mark: here the mark's transaction fails.
    from bot.errors import StoreError

    bot.channels(slack("C1"), slack("C2"))
    bot.alert("slack:C1", 1)
    bot.alert("slack:C2", 2)
    real_mark = outbox.mark_sent

    def failing_mark(session: Any, row_id: int, message_id: str, now: Any) -> None:
        if bot.rows()["alert:slack:C1:1"].id == row_id:
            raise StoreError("database is locked")
        real_mark(session, row_id, message_id, now)

    monkeypatch.setattr(outbox, "mark_sent", failing_mark)
    summary = await bot.drain()
    assert summary.sent == 1 and "database is locked" in summary.errors[0]
    assert bot.rows()["alert:slack:C1:1"].status == "sending"
    monkeypatch.setattr(outbox, "mark_sent", real_mark)
    bot.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert (await bot.drain()).sent == 1
    assert sorted(bot.slack_titles()) == ["Story 1", "Story 2"]  # found by metadata, not reposted


async def test_a_digest_failing_partway_is_completed_without_reposting_parts(bot: Bot) -> None:
    bot.channels(slack("C1"))
    with bot.db.write() as s:
        outbox.enqueue(
            s, channel_id="slack:C1", kind="digest", dedup_key="digest:slack:C1:2026-11-27",
            payload=digest(60, topics=("war", "energy", "economy")), now=bot.clock(),
        )  # fmt: skip
    bot.slack.inject("chat.postMessage", "server_error", skip=1)  # part 1 ok, part 2 fails
    assert (await bot.drain()).retried == 1
    assert len(bot.slack.messages) == 1
    bot.clock.advance(hours=1)
    assert (await bot.drain()).sent == 1
    ids = [m["metadata"]["event_payload"]["delivery_id"] for m in bot.slack.messages]
    assert len(ids) >= 2
    assert ids == [f"digest:slack:C1:2026-11-27#{i}" for i in range(1, len(ids) + 1)]  # each once
    row = bot.rows()["digest:slack:C1:2026-11-27"]
    assert row.message_id == bot.slack.messages[0]["ts"]


async def test_quiet_hours_hold_alerts_until_they_end_but_not_reports(bot: Bot) -> None:
    bot.channels(slack("C1", quiet="08:30-10:00", timezone="Europe/Kyiv"))  # 09:00 UTC = 11:00
    bot.alert("slack:C1", 1)
    assert (await bot.drain()).sent == 1  # 11:00 in Kyiv: not quiet
    with bot.db.write() as s:
        s.execute(update(Channel).values(timezone="UTC"))  # now 09:00 local: quiet
    bot.alert("slack:C1", 2)
    with bot.db.write() as s:
        outbox.enqueue(
            s, channel_id="slack:C1", kind="report", dedup_key="r1", payload={"text": "hi"},
            now=bot.clock(),
        )  # fmt: skip
    assert (await bot.drain()).sent == 1
    assert bot.slack.messages[-1]["text"] == "hi"
    held = bot.rows()["alert:slack:C1:2"]
    assert (held.status, held.due_at) == ("pending", bot.clock().replace(hour=10, minute=0))
    bot.clock.now = held.due_at
    assert (await bot.drain()).sent == 1
    assert bot.slack_titles()[-1] == "Story 2"


async def test_a_mute_set_after_queueing_still_holds_alerts(bot: Bot) -> None:
    bot.channels(slack("C1"))
    bot.alert("slack:C1", 1)
    until = bot.clock() + timedelta(hours=2)
    with bot.db.write() as s:
        s.execute(update(Channel).values(muted_until=until))
    assert (await bot.drain()).sent == 0
    assert bot.rows()["alert:slack:C1:1"].due_at == until
    bot.clock.now = until
    assert (await bot.drain()).sent == 1
