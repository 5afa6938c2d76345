"""The durable outbox: every message the bot will send, written in the same
transaction as the item it is about, then claimed, sent and marked by
bot.notify.sender.

Row life cycle (column `status`)::

    pending ──claim──> sending ──mark_sent──> sent
       ^                  │
       └──retry_later─────┤  (transient error, 429, lost lease)
                          └──mark_dead──> dead   (message refused, or retries exhausted)

A row stuck in `sending` (the process died between claim and mark) is claimed
again once its lease has run out. Rows of a paused channel stay `pending` and
are not claimed; alerts held by quiet hours or a mute are `pending` with a
later `due_at` (see bot.notify.sender). Nothing is dropped.

Payloads, snapshotted at enqueue time so delivery needs no joins:

* alert/thread: {"title", "link", "feed", "published_at" (ISO UTC), "lang",
  "topics": [str], "why": [Match.explanation()], "summary"}
* report: {"text"}
* digest: {"title", "sections": [{"topic", "items": [{"title", "link", "feed",
  "published_at", "sources"}], "more"}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.store.db import insert_ignoring_conflicts
from bot.store.schema import Channel, OutboxRow

#: prefix of `last_error` when the failed attempt may have reached the platform
MAYBE_SENT = "maybe sent: "


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row, with what the notifier needs from its channel."""

    id: int
    channel_id: str
    kind: str
    dedup_key: str
    payload: dict[str, Any]
    #: failed attempts so far (429 waits do not count)
    attempts: int
    created_at: datetime
    timezone: str = "UTC"
    #: the platform message id of the story's first alert in this channel, for threads
    thread_of: str | None = None
    #: an earlier attempt timed out, was cut off, was abandoned mid-send, or
    #: failed partway through a multi-message digest
    maybe_sent: bool = False


def enqueue(
    session: Session,
    *,
    channel_id: str,
    kind: str,
    dedup_key: str,
    payload: dict[str, Any],
    now: datetime,
    item_id: int | None = None,
    story_id: int | None = None,
    due_at: datetime | None = None,
) -> bool:
    """Queue one message; False (and nothing written) when `dedup_key` is already queued."""
    new_id = insert_ignoring_conflicts(
        session,
        OutboxRow.__table__,
        {
            "channel_id": channel_id,
            "kind": kind,
            "dedup_key": dedup_key[:300],
            "item_id": item_id,
            "story_id": story_id,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "due_at": due_at or now,
        },
    )
    return new_id is not None


def _claimable(now: datetime, lease: timedelta) -> Any:
    return and_(
        Channel.paused_reason.is_(None),
        or_(
            and_(OutboxRow.status == "pending", OutboxRow.due_at <= now),
            # crash recovery: the claimer died between claim and mark
            and_(OutboxRow.status == "sending", OutboxRow.claimed_at < now - lease),
        ),
    )


def due_channels(
    session: Session, now: datetime, *, lease: timedelta, platforms: set[str] | None = None
) -> list[str]:
    """Channels with at least one row to send now, oldest due first."""
    query = (
        select(OutboxRow.channel_id, func.min(OutboxRow.due_at).label("first"))
        .join(Channel, Channel.id == OutboxRow.channel_id)
        .where(_claimable(now, lease))
        .group_by(OutboxRow.channel_id)
        .order_by("first", OutboxRow.channel_id)
    )
    if platforms is not None:
        query = query.where(Channel.platform.in_(sorted(platforms)))
    return [channel_id for channel_id, _ in session.execute(query)]


def claim_next(
    session: Session, channel_id: str, now: datetime, *, lease: timedelta
) -> Delivery | None:
    """Mark the channel's next due row `sending` and return it (None when nothing is due).

    On PostgreSQL the row is locked with SKIP LOCKED, so concurrent senders
    never claim the same row; SQLite write transactions are serial anyway.
    """
    query = (
        select(OutboxRow, Channel.timezone)
        .join(Channel, Channel.id == OutboxRow.channel_id)
        .where(OutboxRow.channel_id == channel_id, _claimable(now, lease))
        .order_by(OutboxRow.due_at, OutboxRow.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxRow)
    found = session.execute(query).first()
    if found is None:
        return None
    row, timezone = found
    abandoned = row.status == "sending"
    # A digest goes out in several messages; after any failure some may be posted.
    maybe_sent = (
        abandoned
        or (row.last_error or "").startswith(MAYBE_SENT)
        or (row.kind == "digest" and row.last_error is not None)
    )
    row.status, row.claimed_at = "sending", now
    if abandoned:
        row.attempts += 1
        row.last_error = f"{MAYBE_SENT}lease expired: the sender stopped during the send"
    session.flush()
    return Delivery(
        id=row.id,
        channel_id=row.channel_id,
        kind=row.kind,
        dedup_key=row.dedup_key,
        payload=dict(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        timezone=timezone or "UTC",
        thread_of=_thread_of(session, row) if row.kind == "thread" else None,
        maybe_sent=maybe_sent,
    )


def _thread_of(session: Session, row: OutboxRow) -> str | None:
    """The message that opened this story in this channel, to reply under it."""
    if row.story_id is None:
        return None
    return session.scalar(
        select(OutboxRow.message_id)
        .where(
            OutboxRow.channel_id == row.channel_id,
            OutboxRow.story_id == row.story_id,
            OutboxRow.status == "sent",
            OutboxRow.message_id.is_not(None),
        )
        .order_by(OutboxRow.sent_at, OutboxRow.id)
        .limit(1)
    )


def mark_sent(session: Session, row_id: int, message_id: str, now: datetime) -> None:
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row_id)
        .values(status="sent", sent_at=now, message_id=message_id[:64], last_error=None)
    )


def retry_later(
    session: Session, row_id: int, *, due_at: datetime, error: str, count_attempt: bool = True
) -> None:
    """Back to pending, due at `due_at`; a 429 wait does not count as an attempt."""
    values: dict[str, Any] = {"status": "pending", "due_at": due_at, "last_error": error[:2000]}
    if count_attempt:
        values["attempts"] = OutboxRow.attempts + 1
    session.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(**values))


def defer_channel(
    session: Session, channel_id: str, until: datetime, *, kinds: Sequence[str] | None = None
) -> None:
    """No pending row of the channel (of these kinds) is due before `until`."""
    query = update(OutboxRow).where(
        OutboxRow.channel_id == channel_id,
        OutboxRow.status == "pending",
        OutboxRow.due_at < until,
    )
    if kinds is not None:
        query = query.where(OutboxRow.kind.in_(list(kinds)))
    session.execute(query.values(due_at=until))


def mark_dead(session: Session, row_id: int, error: str) -> None:
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row_id)
        .values(status="dead", last_error=error[:2000], attempts=OutboxRow.attempts + 1)
    )


def status_counts(session: Session) -> dict[str, int]:
    """How many rows are in each status, for health output."""
    rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
    return {status: int(count) for status, count in rows}
