"""The database schema: SQLAlchemy 2 models for the whole pipeline.

    feeds ──< items ──< matches
                │
                └──< outbox >── channels ──< subscriptions
    stories ──< items            channels ──< digests
    chat_updates  (inbound updates already handled, for exactly-once commands)

Migrations in migrations/ are generated from these models; a test checks that
they do not drift. Timestamps are stored as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Feed(Base):
    """A polled source, with its HTTP validators, schedule and health."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str | None] = mapped_column(String(500))
    site_url: Mapped[str | None] = mapped_column(String(2048))
    lang: Mapped[str | None] = mapped_column(String(16))
    #: where the feed came from: the config file, or added by a chat/CLI command
    origin: Mapped[str] = mapped_column(String(16), default="config")
    #: active, failing, stopped (410 Gone, or gone from feeds.yaml) or removed (by an admin)
    status: Mapped[str] = mapped_column(String(16), default="active")
    interval_s: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    added_at: Mapped[datetime]
    next_check_at: Mapped[datetime] = mapped_column(index=True)
    last_check_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_item_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    #: exponentially smoothed new items per day, for adaptive scheduling
    items_per_day: Mapped[float | None] = mapped_column(Float)
    #: set once the admin channel was told about this run of failures
    error_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the item digests of the last stored version (bot/feeds/seen.py): what the
    #: next fetch need not prepare again; written with the items, in one transaction.
    #: Deferred: only the poll reads it (`due_feeds`), not every loaded Feed
    item_digests: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class Story(Base):
    """A cluster of items from different outlets that report the same event."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    #: MinHash of the first item (`MinHash.to_str`, 128 characters), so the story
    #: index can be rebuilt after a restart and newcomers still join the story
    signature: Mapped[str | None] = mapped_column(String(128))
    item_count: Mapped[int] = mapped_column(Integer, default=1)


class ItemRow(Base):
    """An item ever seen. `(feed_id, key)` is unique: an item is stored, and alerts, once."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("feed_id", "key", name="uq_items_feed_id_key"),
        Index("ix_items_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2048))
    summary: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    #: False for backlog items: stored and searchable, never alerted
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )


class MatchRow(Base):
    """An item matched a topic; `explanation` says which terms, where, and the score."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("item_id", "topic", name="uq_matches_item_id_topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(100), index=True)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]]
    matched_at: Mapped[datetime]


class Channel(Base):
    """A destination: `console`, `slack:C…` or `telegram:<chat>[/<topic>]`."""

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    #: Slack workspace (team id) or empty; commands are scoped by it
    workspace: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16), default="instant")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_at: Mapped[str] = mapped_column(String(5), default="08:00")
    quiet: Mapped[str | None] = mapped_column(String(11))
    muted_until: Mapped[datetime | None]
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: set on a permanent delivery failure (channel gone, bot removed); rows are kept
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    last_digest_at: Mapped[datetime | None]
    #: "config" (listed in feeds.yaml) or "chat" (first seen through a chat command)
    origin: Mapped[str] = mapped_column(String(16), default="config", server_default="config")
    #: the `follows` feeds.yaml gave at the last sync; a restart re-applies the file's
    #: list only when it changed, so a chat `follow`/`unfollow` survives restarts
    config_follows: Mapped[list[str] | None] = mapped_column(JSON)
    #: the `quiet` feeds.yaml gave at the last sync ("" for none; NULL: never synced), so
    #: quiet hours set with the chat `quiet` command survive restarts in the same way
    config_quiet: Mapped[str | None] = mapped_column(String(11))


class Subscription(Base):
    """A channel follows a topic. `*` follows every topic."""

    __tablename__ = "subscriptions"

    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)


class OutboxRow(Base):
    """A pending or finished delivery. Written with the item, in the same transaction.

    `dedup_key` makes enqueueing idempotent: one alert per (channel, item), one
    digest per (channel, period).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    #: alert, thread (follow-up in a story's thread), digest or report (admin notice)
    kind: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    #: what to render: topics, explanation, text of reports and digests
    payload: Mapped[dict[str, Any]]
    #: pending, sending, sent, held (quiet hours / paused channel) or dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: the platform's message id (Slack ts, Telegram message_id), for threading
    message_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)


class Digest(Base):
    """One digest per channel per period, also across restarts."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("channel_id", "period", name="uq_digests_channel_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    #: the local date the digest covers, e.g. 2026-11-26
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    item_count: Mapped[int] = mapped_column(Integer, default=0)


class ChatUpdate(Base):
    """An inbound chat update already handled (Telegram update_id), so it runs once."""

    __tablename__ = "chat_updates"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handled_at: Mapped[datetime]
