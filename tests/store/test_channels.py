"""Channels and subscriptions in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.config import ChannelSpec
from bot.store import channels as channel_store
from bot.store import outbox
from bot.store import subscriptions as subs
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


# -- chat changes and feeds.yaml across restarts -------------------------------------------


def sync(db: Database, *specs: ChannelSpec) -> None:
    """What a start-up does."""
    with db.write() as s:
        channel_store.sync_channels(s, list(specs), NOW)


def chat_follow(db: Database, channel_id: str, topic: str, *, follow: bool = True) -> None:
    """What a chat `follow`/`unfollow` does."""
    with db.write() as s:
        subs.ensure_channel(s, channel_id, platform=channel_id.split(":")[0], workspace="T1")
        if follow:
            subs.follow(s, channel_id, topic)
        else:
            subs.unfollow(s, channel_id, topic, ("war", "energy", "ai"))


def origin(db: Database, channel_id: str) -> str:
    with db.read() as s:
        row = s.get(Channel, channel_id)
        assert row is not None
        return row.origin


def test_a_chat_follow_on_a_configured_channel_survives_a_restart(database: Database) -> None:
    sync(database, spec("slack:C1", "war"), spec("console"))
    chat_follow(database, "slack:C1", "energy")
    chat_follow(database, "console", "war", follow=False)  # `*` becomes the other topics
    sync(database, spec("slack:C1", "war"), spec("console"))  # restart, file unchanged
    assert subscriptions(database, "slack:C1") == {"war", "energy"}
    assert subscriptions(database, "console") == {"energy", "ai"}
    assert origin(database, "slack:C1") == "config"


def test_editing_a_channels_follows_in_the_file_wins_over_chat_changes(
    database: Database,
) -> None:
    sync(database, spec("slack:C1", "war", "energy"))
    chat_follow(database, "slack:C1", "ai")
    sync(database, spec("slack:C1", "energy", "war"))  # same list, other order: unchanged
    assert subscriptions(database, "slack:C1") == {"war", "energy", "ai"}
    sync(database, spec("slack:C1", "energy"))  # edited
    assert subscriptions(database, "slack:C1") == {"energy"}
    sync(database, spec("slack:C1"))  # edited to every topic
    assert subscriptions(database, "slack:C1") == {"*"}
    chat_follow(database, "slack:C1", "war")
    sync(database, spec("slack:C1"))
    assert subscriptions(database, "slack:C1") == {"war"}


def test_sync_never_touches_a_chat_made_channel(database: Database) -> None:
    chat_follow(database, "telegram:-100777", "war")
    sync(database, spec("console", admin=True))
    sync(database, spec("console", admin=True))
    assert subscriptions(database, "telegram:-100777") == {"war"}
    assert origin(database, "telegram:-100777") == "chat"
    with database.read() as s:
        row = s.get(Channel, "telegram:-100777")
        assert row is not None and row.config_follows is None and not row.is_admin


def test_a_configured_channel_keeps_its_origin_when_chat_touches_it(database: Database) -> None:
    sync(database, spec("slack:C1", "war"))
    chat_follow(database, "slack:C1", "energy")
    assert origin(database, "slack:C1") == "config"


def test_a_channel_removed_from_the_file_loses_only_the_admin_role(database: Database) -> None:
    sync(database, spec("slack:C1", "war", admin=True), spec("console"))
    chat_follow(database, "slack:C1", "energy")
    sync(database, spec("console"))
    assert subscriptions(database, "slack:C1") == {"war", "energy"}
    with database.read() as s:
        assert channel_store.admin_channel_ids(s) == []
    # Listed again: the file's follows apply once more, as for a new channel.
    sync(database, spec("slack:C1", "war"), spec("console"))
    assert subscriptions(database, "slack:C1") == {"war"}


def test_a_chat_made_channel_listed_in_the_file_becomes_a_configured_one(
    database: Database,
) -> None:
    chat_follow(database, "slack:C9", "ai")
    sync(database, spec("slack:C9", "war", timezone="Asia/Tokyo"))
    assert subscriptions(database, "slack:C9") == {"war"}
    assert origin(database, "slack:C9") == "config"
    chat_follow(database, "slack:C9", "energy")
    sync(database, spec("slack:C9", "war", timezone="Asia/Tokyo"))
    assert subscriptions(database, "slack:C9") == {"war", "energy"}


def test_a_store_from_before_0003_gets_the_file_follows_once(database: Database) -> None:
    """Rows synced before the migration have no remembered follows: the file applies once."""
    sync(database, spec("slack:C1", "war"))
    with database.write() as s:
        s.execute(update(Channel).values(config_follows=None))
        s.add(Subscription(channel_id="slack:C1", topic="energy"))
    sync(database, spec("slack:C1", "war"))
    assert subscriptions(database, "slack:C1") == {"war"}
    chat_follow(database, "slack:C1", "energy")
    sync(database, spec("slack:C1", "war"))
    assert subscriptions(database, "slack:C1") == {"war", "energy"}


def chat_quiet(db: Database, channel_id: str, quiet: str | None) -> None:
    """What the chat `quiet` command does."""
    with db.write() as s:
        s.execute(update(Channel).where(Channel.id == channel_id).values(quiet=quiet))


def quiet_of(db: Database, channel_id: str) -> str | None:
    with db.read() as s:
        row = s.get(Channel, channel_id)
        assert row is not None
        return row.quiet


def test_chat_quiet_hours_survive_a_restart_until_the_file_changes_them(
    database: Database,
) -> None:
    sync(database, spec("slack:C1", quiet="22:00-07:00"))
    chat_quiet(database, "slack:C1", "23:00-06:00")
    sync(database, spec("slack:C1", quiet="22:00-07:00"))  # restart, file unchanged
    assert quiet_of(database, "slack:C1") == "23:00-06:00"
    sync(database, spec("slack:C1", quiet="21:00-06:00"))  # edited
    assert quiet_of(database, "slack:C1") == "21:00-06:00"
    sync(database, spec("slack:C1"))  # quiet hours removed from the file
    assert quiet_of(database, "slack:C1") is None
    chat_quiet(database, "slack:C1", "01:00-05:00")
    sync(database, spec("slack:C1"))
    assert quiet_of(database, "slack:C1") == "01:00-05:00"
