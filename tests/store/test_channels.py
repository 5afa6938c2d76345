"""Channels and subscriptions in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.config import ChannelSpec
from bot.store import channels as channel_store
from bot.store import outbox
from bot.store.db import Database
from bot.store.schema import Channel, OutboxRow, Subscription

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def spec(channel_id: str, *follows: str, **kw: object) -> ChannelSpec:
    return ChannelSpec(id=channel_id, follows=list(follows), **kw)  # type: ignore[arg-type]


def subscriptions(db: Database, channel_id: str) -> set[str]:
    with db.read() as s:
        return set(
            s.scalars(select(Subscription.topic).where(Subscription.channel_id == channel_id))
        )


def test_sync_inserts_channels_and_follows(database: Database) -> None:
    with database.write() as s:
        channel_store.sync_channels(
            s,
            [
                spec("slack:C1", "war", "energy", timezone="Europe/Kyiv"),
                spec("console", admin=True),
            ],
            NOW,
        )
    assert subscriptions(database, "slack:C1") == {"war", "energy"}
    assert subscriptions(database, "console") == {"*"}  # follows: [] means every topic
    with database.read() as s:
        row = s.get(Channel, "slack:C1")
        assert row is not None
        assert (row.platform, row.timezone, row.is_admin) == ("slack", "Europe/Kyiv", False)
        assert channel_store.admin_channel_ids(s) == ["console"]


def test_resync_updates_follows_and_keeps_runtime_state(database: Database) -> None:
    with database.write() as s:
        channel_store.sync_channels(s, [spec("slack:C1", "war"), spec("slack:C2", admin=True)], NOW)
        channel_store.pause_channel(s, "slack:C1", "channel_not_found", NOW)
    with database.write() as s:
        channel_store.sync_channels(s, [spec("slack:C1", "energy", mode="digest")], NOW)
    assert subscriptions(database, "slack:C1") == {"energy"}
    # not in the file (e.g. made by a chat command): subscriptions kept, admin role not
    assert subscriptions(database, "slack:C2") == {"*"}
    with database.read() as s:
        c1, c2 = s.get(Channel, "slack:C1"), s.get(Channel, "slack:C2")
        assert c1 is not None and c2 is not None
        assert c1.paused_reason == "channel_not_found"  # runtime state survives a resync
        assert c1.mode == "digest"
        assert not c2.is_admin  # the admin role comes from feeds.yaml alone
        assert channel_store.admin_channel_ids(s) == []


def test_channels_for_topics_skips_paused_and_digest_channels(database: Database) -> None:
    with database.write() as s:
        channel_store.sync_channels(
            s,
            [
                spec("slack:CWAR", "war"),
                spec("slack:CALL"),
                spec("slack:CDIG", "war", mode="digest"),
                spec("slack:CPAUSED", "war"),
                spec("slack:CENERGY", "energy"),
            ],
            NOW,
        )
        channel_store.pause_channel(s, "slack:CPAUSED", "is_archived", NOW)
    with database.read() as s:
        assert channel_store.channels_for_topics(s, ["war"]) == ["slack:CALL", "slack:CWAR"]
        assert channel_store.channels_for_topics(s, ["war", "energy", "war"]) == [
            "slack:CALL",
            "slack:CENERGY",
            "slack:CWAR",
        ]
        assert channel_store.channels_for_topics(s, []) == ["slack:CALL"]


def test_pause_reports_once_and_resume_makes_kept_rows_due(database: Database) -> None:
    with database.write() as s:
        channel_store.sync_channels(s, [spec("slack:C1")], NOW)
        outbox.enqueue(
            s,
            channel_id="slack:C1",
            kind="report",
            dedup_key="k1",
            payload={"text": "x"},
            now=NOW,
            due_at=NOW + timedelta(hours=5),
        )
    with database.write() as s:
        assert channel_store.pause_channel(s, "slack:C1", "not_in_channel", NOW) is True
        assert channel_store.pause_channel(s, "slack:C1", "not_in_channel", NOW) is False
        assert channel_store.is_paused(s, "slack:C1")
    later = NOW + timedelta(hours=1)
    with database.write() as s:
        assert channel_store.resume_channel(s, "slack:C1", later) is True
        assert channel_store.resume_channel(s, "slack:C1", later) is False
    with database.read() as s:
        row = s.scalars(select(OutboxRow)).one()
        assert row.status == "pending" and row.due_at == later
        assert not channel_store.is_paused(s, "slack:C1")


def test_rename_moves_rows_and_subscriptions(database: Database) -> None:
    with database.write() as s:
        channel_store.sync_channels(s, [spec("telegram:-123", "war", timezone="Europe/Kyiv")], NOW)
        outbox.enqueue(
            s,
            channel_id="telegram:-123",
            kind="report",
            dedup_key="k1",
            payload={"text": "x"},
            now=NOW,
        )
    with database.write() as s:
        channel_store.rename_channel(s, "telegram:-123", "telegram:-100123")
    assert subscriptions(database, "telegram:-100123") == {"war"}
    with database.read() as s:
        assert s.get(Channel, "telegram:-123") is None
        moved = s.get(Channel, "telegram:-100123")
        assert moved is not None and moved.timezone == "Europe/Kyiv"
        assert s.scalars(select(OutboxRow.channel_id)).one() == "telegram:-100123"


def test_rename_merges_into_an_existing_channel(database: Database) -> None:
    # After a restart feeds.yaml brings the old id back; the next migration merges it.
    with database.write() as s:
        channel_store.sync_channels(
            s, [spec("telegram:-123", "war"), spec("telegram:-100123", "energy")], NOW
        )
        for key, channel in (("a", "telegram:-123"), ("b", "telegram:-100123")):
            outbox.enqueue(
                s, channel_id=channel, kind="report", dedup_key=key, payload={"text": key}, now=NOW
            )
    with database.write() as s:
        channel_store.rename_channel(s, "telegram:-123", "telegram:-100123")
    assert subscriptions(database, "telegram:-100123") == {"war", "energy"}
    with database.read() as s:
        assert s.get(Channel, "telegram:-123") is None
        assert set(s.scalars(select(OutboxRow.channel_id))) == {"telegram:-100123"}
        assert len(s.scalars(select(OutboxRow)).all()) == 2
