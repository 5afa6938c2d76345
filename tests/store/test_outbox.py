"""The outbox rows' life cycle in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.config import ChannelSpec
from bot.store import channels as channel_store
from bot.store import outbox
from bot.store.db import Database
from bot.store.schema import OutboxRow, Story

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def setup(db: Database, *channel_ids: str) -> None:
    with db.write() as s:
        channel_store.sync_channels(
            s, [ChannelSpec(id=c, timezone="Europe/Kyiv") for c in channel_ids], NOW
        )


def put(db: Database, key: str, channel: str = "slack:C1", **kw: Any) -> bool:
    kw.setdefault("now", NOW)
    with db.write() as s:
        return outbox.enqueue(
            s,
            channel_id=channel,
            kind=kw.pop("kind", "alert"),
            dedup_key=key,
            payload=kw.pop("payload", {"title": key}),
            **kw,
        )


def claim(db: Database, channel: str = "slack:C1", now: datetime = NOW) -> outbox.Delivery | None:
    with db.write() as s:
        return outbox.claim_next(s, channel, now, lease=LEASE)


def rows(db: Database) -> dict[str, OutboxRow]:
    with db.read() as s:
        return {r.dedup_key: r for r in s.scalars(select(OutboxRow))}


def test_enqueue_is_idempotent_per_dedup_key(database: Database) -> None:
    setup(database, "slack:C1")
    assert put(database, "alert:slack:C1:1") is True
    assert put(database, "alert:slack:C1:1", payload={"title": "changed"}) is False
    stored = rows(database)
    assert list(stored) == ["alert:slack:C1:1"]
    row = stored["alert:slack:C1:1"]
    assert (row.status, row.attempts, row.payload) == ("pending", 0, {"title": "alert:slack:C1:1"})
    assert row.due_at == NOW


def test_claim_takes_due_rows_in_order_and_marks_them_sending(database: Database) -> None:
    setup(database, "slack:C1")
    put(database, "later", due_at=NOW + timedelta(minutes=5))
    put(database, "first", now=NOW - timedelta(minutes=1))
    put(database, "second")
    first = claim(database)
    assert first is not None and first.dedup_key == "first"
    assert first.timezone == "Europe/Kyiv" and not first.maybe_sent
    second = claim(database)
    assert second is not None and second.dedup_key == "second"
    assert claim(database) is None  # "later" is not due, the others are taken
    assert rows(database)["first"].status == "sending"
    assert rows(database)["first"].claimed_at == NOW


def test_a_claim_older_than_the_lease_is_taken_over(database: Database) -> None:
    setup(database, "slack:C1")
    put(database, "a")
    assert claim(database) is not None  # ... and the sender dies here
    assert claim(database, now=NOW + LEASE - timedelta(seconds=1)) is None
    again = claim(database, now=NOW + LEASE + timedelta(seconds=1))
    assert again is not None and again.dedup_key == "a"
    assert again.maybe_sent  # the dead sender may have posted it
    assert again.attempts == 1


def test_mark_sent_retry_and_dead(database: Database) -> None:
    setup(database, "slack:C1")
    for key in ("a", "b", "c"):
        put(database, key)
    a, b, c = claim(database), claim(database), claim(database)
    assert a and b and c
    with database.write() as s:
        outbox.mark_sent(s, a.id, "1700000000.1", NOW)
        outbox.retry_later(
            s, b.id, due_at=NOW + timedelta(seconds=30), error=outbox.MAYBE_SENT + "x"
        )
        outbox.retry_later(
            s, c.id, due_at=NOW + timedelta(seconds=3), error="429", count_attempt=False
        )
    stored = rows(database)
    assert (stored["a"].status, stored["a"].message_id, stored["a"].sent_at) == (
        "sent",
        "1700000000.1",
        NOW,
    )
    assert (stored["b"].status, stored["b"].attempts) == ("pending", 1)
    assert (stored["c"].status, stored["c"].attempts) == ("pending", 0)
    retried = claim(database, now=NOW + timedelta(seconds=30))
    assert retried is not None and retried.dedup_key == "c"
    retried = claim(database, now=NOW + timedelta(seconds=30))
    assert retried is not None and retried.dedup_key == "b" and retried.maybe_sent
    with database.write() as s:
        outbox.mark_dead(s, retried.id, "gave up")
    assert rows(database)["b"].status == "dead"
    with database.read() as s:
        assert outbox.status_counts(s) == {"sent": 1, "dead": 1, "sending": 1}


def test_defer_channel_holds_every_pending_row_of_that_channel_only(database: Database) -> None:
    setup(database, "slack:C1", "slack:C2")
    put(database, "c1-a")
    put(database, "c1-b", due_at=NOW + timedelta(hours=1))
    put(database, "c2-a", channel="slack:C2")
    with database.write() as s:
        outbox.defer_channel(s, "slack:C1", NOW + timedelta(seconds=3))
    stored = rows(database)
    assert stored["c1-a"].due_at == NOW + timedelta(seconds=3)
    assert stored["c1-b"].due_at == NOW + timedelta(hours=1)  # never made earlier
    assert stored["c2-a"].due_at == NOW
    with database.read() as s:
        assert outbox.due_channels(s, NOW, lease=LEASE) == ["slack:C2"]


def test_paused_channels_keep_their_rows_pending_and_unclaimed(database: Database) -> None:
    setup(database, "slack:C1", "telegram:-1")
    put(database, "a")
    put(database, "c", channel="telegram:-1")
    with database.write() as s:
        channel_store.pause_channel(s, "slack:C1", "channel_not_found", NOW)
    with database.read() as s:
        assert outbox.due_channels(s, NOW, lease=LEASE) == ["telegram:-1"]
        assert outbox.due_channels(s, NOW, lease=LEASE, platforms={"slack"}) == []
    assert claim(database) is None
    assert {r.status for r in rows(database).values()} == {"pending"}


def test_defer_channel_can_hold_some_kinds_only(database: Database) -> None:
    setup(database, "slack:C1")
    put(database, "alert")
    put(database, "report", kind="report")
    with database.write() as s:
        outbox.defer_channel(s, "slack:C1", NOW + timedelta(hours=1), kinds=["alert", "thread"])
    stored = rows(database)
    assert stored["alert"].due_at == NOW + timedelta(hours=1)
    assert stored["report"].due_at == NOW


def test_thread_rows_reply_to_the_story_first_message(database: Database) -> None:
    setup(database, "slack:C1")
    with database.write() as s:
        story = Story(created_at=NOW, updated_at=NOW)
        s.add(story)
        s.flush()
        story_id = story.id
    put(database, "first", story_id=story_id)
    first = claim(database)
    assert first is not None and first.thread_of is None
    with database.write() as s:
        outbox.mark_sent(s, first.id, "1700000000.5", NOW)
    put(database, "follow-up", kind="thread", story_id=story_id)
    follow = claim(database)
    assert follow is not None and follow.kind == "thread"
    assert follow.thread_of == "1700000000.5"
