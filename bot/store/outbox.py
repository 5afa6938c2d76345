"""The durable outbox: every message the bot will send, written in the same
transaction as the item it is about, then claimed, sent and marked by
bot.notify.sender.

Row life cycle (column `status`)::

    pending ──claim──> sending ──mark_sent──> sent
       ^ │                │
       │ │                ├──retry_later──> pending  (transient error, 429, lost lease)
       │ │                └──mark_dead────> dead     (message refused, or retries exhausted)
       │ └──hold──> held ──fold──> folded            (quiet hours / mute, policy "digest")
       └─────────release──┘                          (policy changed back to "release")

A row stuck in `sending` (the process died between claim and mark) is claimed
again once its lease has run out. Rows of a paused channel stay `pending` and
are not claimed. Quiet hours and mutes (bot.notify.sender) either keep alerts
`pending` with `due_at` at the end of the window (policy "release") or mark
them `held` until the next digest folds them in (policy "digest"). Nothing is
dropped.

Stories (`story_id`): the first item of a story in a channel is an `alert`;
later items of the story become one `thread` row per follow-up interval, which
collects the sources that arrive meanwhile (`enqueue_for_story`). A thread row
is sent as a reply to the story's first sent message in the channel; it waits
while that message is still unsent, and goes out as a plain alert when the
channel never got one (`claim_next`).

Payloads, snapshotted at enqueue time so delivery needs no joins:

* alert: {"title", "link", "feed", "published_at" (ISO UTC), "lang",
  "topics": [str], "why": [Match.explanation()], "summary"}
* thread: the alert payload of the item that opened the follow-up, plus
  "sources": [{"title", "link", "feed", "published_at"}] (every new source)
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
#: statuses of a row that is, or will be, a message in the channel
LIVE = ("pending", "sending", "sent", "held")
#: rows skipped per claim because their story's first message is not sent yet
_MAX_WAITING = 20
#: how long a follow-up waits, at least, for its story's first message
_PARENT_WAIT = timedelta(seconds=5)


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


def enqueue_for_story(
    session: Session,
    *,
    channel_id: str,
    item_id: int,
    story_id: int | None,
    payload: dict[str, Any],
    now: datetime,
    interval: timedelta,
    new_story: bool = False,
) -> bool:
    """An alert for a story's first item in the channel, else a thread follow-up.

    `new_story` says the story was created in this transaction, so no row can
    mention it yet and the lookup is skipped.

    Follow-ups come at most once per `interval` per story and channel: a new
    source joins the follow-up still waiting, or opens one due `interval` after
    the story's last message. True when a new row was queued.
    """
    if story_id is None or new_story or not _story_opened(session, channel_id, story_id):
        return enqueue(
            session, channel_id=channel_id, kind="alert", dedup_key=f"alert:{channel_id}:{item_id}",
            payload=payload, now=now, item_id=item_id, story_id=story_id,
        )  # fmt: skip
    source = {k: payload.get(k) for k in ("title", "link", "feed", "published_at")}
    if _add_source(session, channel_id, story_id, source):
        return False
    last = session.scalar(
        select(func.max(OutboxRow.due_at)).where(
            OutboxRow.channel_id == channel_id, OutboxRow.story_id == story_id
        )
    )
    due = max(now, last + interval) if last is not None else now
    return enqueue(
        session, channel_id=channel_id, kind="thread", dedup_key=f"thread:{channel_id}:{item_id}",
        payload={**payload, "sources": [source]}, now=now, item_id=item_id, story_id=story_id,
        due_at=due,
    )  # fmt: skip


def _story_opened(session: Session, channel_id: str, story_id: int) -> bool:
    """The channel has (or will have) a message about the story."""
    found = session.scalar(
        select(OutboxRow.id)
        .where(
            OutboxRow.channel_id == channel_id,
            OutboxRow.story_id == story_id,
            OutboxRow.status.in_(LIVE),
        )
        .limit(1)
    )
    return found is not None


def _add_source(session: Session, channel_id: str, story_id: int, source: dict[str, Any]) -> bool:
    """Add a source to the story's follow-up that is still waiting; False if there is none."""
    waiting = session.execute(
        select(OutboxRow.id, OutboxRow.payload, OutboxRow.status)
        .where(
            OutboxRow.channel_id == channel_id,
            OutboxRow.story_id == story_id,
            OutboxRow.kind == "thread",
            OutboxRow.status.in_(("pending", "held")),
        )
        .order_by(OutboxRow.id.desc())
        .limit(1)
    ).first()
    if waiting is None:
        return False
    row_id, payload, status = waiting
    sources = list(payload.get("sources") or [])
    if source not in sources:
        sources.append(source)
    # Guarded by the status just read: a sender that claimed the row meanwhile wins,
    # and the source opens the next follow-up instead.
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row_id, OutboxRow.status == status)
        .values(payload={**payload, "sources": sources})
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
    never claim the same row; SQLite write transactions are serial anyway. A
    follow-up whose story's first message is not sent yet is put back to wait
    for it (or held with it), and the next row is tried.
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
    for _ in range(_MAX_WAITING):
        found = session.execute(query).first()
        if found is None:
            return None
        row, timezone = found
        thread_of = None
        if row.kind == "thread":
            thread_of, waiting = _thread_parent(session, row, now)
            if waiting:
                continue
        return _claim(session, row, timezone, now, thread_of)
    return None


def _claim(
    session: Session, row: OutboxRow, timezone: str | None, now: datetime, thread_of: str | None
) -> Delivery:
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
        # a follow-up whose story never reached this channel goes out as an alert
        kind="alert" if row.kind == "thread" and thread_of is None else row.kind,
        dedup_key=row.dedup_key,
        payload=dict(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
        timezone=timezone or "UTC",
        thread_of=thread_of,
        maybe_sent=maybe_sent,
    )


def _thread_parent(session: Session, row: OutboxRow, now: datetime) -> tuple[str | None, bool]:
    """(message to reply to, must wait) for a follow-up row.

    The reply goes under the story's first sent message in the channel. When an
    earlier message of the story is still unsent, the follow-up waits for it (a
    held one takes the follow-up along); when there is none, it is an alert.
    """
    root = _thread_of(session, row)
    if root is not None:
        return root, False
    earlier = session.execute(
        select(OutboxRow.status, OutboxRow.due_at)
        .where(
            OutboxRow.channel_id == row.channel_id,
            OutboxRow.story_id == row.story_id,
            OutboxRow.id < row.id,
            OutboxRow.status.in_(("pending", "sending", "held")),
        )
        .order_by(OutboxRow.due_at, OutboxRow.id)
        .limit(1)
    ).first()
    if earlier is None:
        return None, False
    status, due_at = earlier
    if status == "held":
        row.status, row.due_at = "held", max(row.due_at, due_at)
    else:
        row.due_at = max(due_at, now) + _PARENT_WAIT
    session.flush()
    return None, True


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


def hold_channel(
    session: Session, channel_id: str, until: datetime, *, kinds: Sequence[str]
) -> int:
    """Hold the channel's pending rows of these kinds due before `until` for the digest."""
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.channel_id == channel_id,
            OutboxRow.status == "pending",
            OutboxRow.due_at < until,
            OutboxRow.kind.in_(list(kinds)),
        )
        .values(status="held", due_at=until)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def has_held(session: Session) -> bool:
    found = session.scalar(select(OutboxRow.id).where(OutboxRow.status == "held").limit(1))
    return found is not None


def release_held(session: Session, now: datetime) -> int:
    """Every held row back to pending, due now (the quiet-hours policy became "release")."""
    result = session.execute(
        update(OutboxRow).where(OutboxRow.status == "held").values(status="pending", due_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def fold_held(session: Session, channel_id: str, now: datetime) -> int:
    """The channel's held rows are covered by the digest being queued: mark them `folded`."""
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.channel_id == channel_id, OutboxRow.status == "held")
        .values(status="folded", sent_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
