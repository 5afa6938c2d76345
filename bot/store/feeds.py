"""Feeds in the store: sync from config, due-feed queries, and health bookkeeping.

The scheduler decides nothing: it asks `due_feeds` which feeds have
`next_check_at <= now`, and the update step writes back the next time computed
by the pure `bot.feeds.schedule.next_check_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, literal_column, select, update
from sqlalchemy.orm import Session

from bot.config import FeedSpec
from bot.errors import StoreError
from bot.store.db import update_one_row, update_rows
from bot.store.items import row_id
from bot.store.schema import Feed
from bot.types import FeedForUpdate

#: statuses that are polled; "stopped" (410 Gone, or gone from feeds.yaml) and REMOVED
#: feeds are kept, with their items, but not polled
POLLED = ("active", "failing")
#: removed by an admin's command: unlike a config feed stopped because it left the file,
#: it stays so while feeds.yaml lists it (`sync_feeds`), until `add_feed` brings it back
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One row of `skywatch feeds list` and the chat `feeds` command."""

    id: int
    url: str
    name: str | None
    status: str
    origin: str
    last_success_at: datetime | None
    last_error: str | None
    consecutive_errors: int
    items_per_day: float | None
    next_check_at: datetime
    item_count: int = 0


def sync_feeds(session: Session, specs: Sequence[FeedSpec], now: datetime) -> None:
    """Make the stored config feeds match feeds.yaml; feeds added by commands are left alone.

    A feed removed from the file stops being polled, but its items stay searchable;
    put back, it is polled again. One an admin removed (REMOVED) stays removed.
    """
    stored = {f.url: f for f in session.scalars(select(Feed))}
    wanted = {spec.url for spec in specs}
    for spec in specs:
        interval = int(spec.interval.total_seconds()) if spec.interval else None
        feed = stored.get(spec.url)
        if feed is None:
            session.add(
                Feed(
                    url=spec.url,
                    name=spec.name,
                    lang=spec.lang,
                    interval_s=interval,
                    origin="config",
                    status="active",
                    added_at=now,
                    next_check_at=now,
                    consecutive_errors=0,
                    error_reported=False,
                )
            )
            continue
        feed.name, feed.lang, feed.interval_s = spec.name, spec.lang, interval
        if feed.origin == "config" and feed.status == "stopped" and feed.last_error is None:
            feed.status, feed.next_check_at = "active", now  # re-added to the file
    for url, feed in stored.items():
        if feed.origin == "config" and url not in wanted and feed.status != "stopped":
            feed.status, feed.last_error = "stopped", None


def add_feed(
    session: Session, url: str, now: datetime, *, name: str | None = None, origin: str = "command"
) -> Feed:
    """Add a feed (or re-activate a stopped or removed one); raises StoreError when it is
    already polled."""
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is not None:
        if feed.status in POLLED:
            raise StoreError(f"{url} is already followed")
        feed.status, feed.next_check_at, feed.consecutive_errors = "active", now, 0
        feed.last_error, feed.error_reported = None, False
        return feed
    feed = Feed(
        url=url,
        name=name,
        origin=origin,
        status="active",
        added_at=now,
        next_check_at=now,
        consecutive_errors=0,
        error_reported=False,
    )
    session.add(feed)
    session.flush()
    return feed


def remove_feed(session: Session, url_or_id: str) -> Feed:
    """Stop polling a feed for good (its items stay searchable), even while feeds.yaml
    lists it; raises StoreError when no polled feed has that URL or id."""
    query = select(Feed).where(Feed.url == url_or_id)
    if (feed_id := row_id(url_or_id)) is not None:
        query = select(Feed).where(Feed.id == feed_id)
    feed = session.scalar(query)
    if feed is None or feed.status not in POLLED:
        raise StoreError(f"no followed feed {url_or_id}")
    feed.status, feed.last_error = REMOVED, None
    return feed


#: the columns `due_feeds` reads: plain rows, since ORM objects cost more than the poll
_DUE_COLUMNS = (
    Feed.id,
    Feed.url,
    Feed.etag,
    Feed.last_modified,
    Feed.interval_s,
    Feed.consecutive_errors,
    Feed.added_at,
    Feed.items_per_day,
    Feed.lang,
    Feed.name,
    Feed.title,
    Feed.last_check_at,
    Feed.last_success_at,
    Feed.item_digests,
)


def due_feeds(session: Session, now: datetime, limit: int = 10_000) -> list[FeedForUpdate]:
    """Feeds whose next check is due, the most overdue first."""
    rows = session.execute(
        select(*_DUE_COLUMNS)
        .where(Feed.status.in_(POLLED), Feed.next_check_at <= now)
        .order_by(Feed.next_check_at)
        .limit(limit)
    )
    return [
        FeedForUpdate(
            id=row.id,
            url=row.url,
            etag=row.etag,
            last_modified=row.last_modified,
            interval_s=row.interval_s,
            consecutive_errors=row.consecutive_errors,
            added_at=row.added_at,
            items_per_day=row.items_per_day,
            lang=row.lang,
            title=row.name or row.title,
            last_check_at=row.last_check_at,
            last_success_at=row.last_success_at,
            item_digests=row.item_digests,
        )
        for row in rows
    ]


def record_success(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    next_check_at: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    title: str | None = None,
    site_url: str | None = None,
    items_per_day: float | None = None,
    new_items: int = 0,
    moved_to: str | None = None,
    item_digests: bytes | None = None,
) -> None:
    """A 200 or 304: clear the error state and store validators and the next check.

    `item_digests`: the digests of the version just stored (bot/feeds/seen.py),
    b"" for none; None keeps what is stored (a 304).
    """
    values = _success(now, next_check_at)
    if item_digests is not None:
        values["item_digests"] = item_digests
    if etag is not None or last_modified is not None:
        values.update(etag=etag, last_modified=last_modified)
    if title:
        values["title"] = title[:500]
    if site_url:
        values["site_url"] = site_url[:2048]
    if items_per_day is not None:
        values["items_per_day"] = items_per_day
    if new_items:
        values["last_new_item_at"] = now
    if moved_to and session.scalar(select(Feed.id).where(Feed.url == moved_to)) is None:
        values["url"] = moved_to
    _update_feed(session, feed_id, values)


def _success(now: datetime, next_check_at: datetime) -> dict[str, object]:
    """The columns every successful check sets: active, error state cleared, next check."""
    return {
        "status": "active",
        "last_check_at": now,
        "last_success_at": now,
        "next_check_at": next_check_at,
        "consecutive_errors": 0,
        "last_error": None,
        "error_reported": False,
    }


def record_unchanged(session: Session, checks: Sequence[tuple[int, datetime, datetime]]) -> None:
    """Many 304s at once, as `record_success` without validators stores each: one
    UPDATE statement, run for every `(feed_id, now, next_check_at)` in one round trip."""
    rows = [
        {_FEED_ID: feed_id, **_success(now, next_check_at)}
        for feed_id, now, next_check_at in checks
    ]
    update_rows(session, _UPDATE_FEED, rows, Feed, [feed_id for feed_id, _, _ in checks])


#: the feed's id in `_UPDATE_FEED`; a name no column has, so SET can use the column names
_FEED_ID = "feed_id_"
#: values passed at execution time become the SET clause: one statement for every call,
#: served by SQLAlchemy's compiled cache (this runs once per feed per cycle). Only a polled
#: feed's row changes: one removed while its fetch was on the way stays removed. The
#: statuses are SQL literals, not parameters, so the statement keeps fastsql's path.
_FEEDS = cast(Table, Feed.__table__)
_UPDATE_FEED = update(_FEEDS).where(
    _FEEDS.c.id == bindparam(_FEED_ID),
    _FEEDS.c.status.in_([literal_column(f"'{status}'") for status in POLLED]),
)


def _update_feed(session: Session, feed_id: int, values: dict[str, object]) -> None:
    """UPDATE one feed row, keeping the session's view of it consistent."""
    update_one_row(session, _UPDATE_FEED, {_FEED_ID: feed_id, **values}, Feed, feed_id)


def record_error(
    session: Session,
    feed_id: int,
    *,
    now: datetime,
    error: str,
    next_check_at: datetime,
    permanent: bool,
    report_after: int,
) -> bool:
    """Count a failure; True exactly once per run of failures, when it should be reported.

    A feed no longer polled (removed while its fetch was on the way) is left as it is."""
    feed = session.get(Feed, feed_id)
    if feed is None or feed.status not in POLLED:
        return False
    feed.consecutive_errors += 1
    feed.last_error, feed.last_error_at, feed.last_check_at = error[:1000], now, now
    feed.next_check_at = next_check_at
    feed.status = "stopped" if permanent else "failing"
    should_report = not feed.error_reported and (
        permanent or feed.consecutive_errors >= report_after
    )
    if should_report:
        feed.error_reported = True
    return should_report


def feed_health(session: Session) -> list[FeedHealth]:
    """Every feed with its health, for tables."""
    from sqlalchemy import func

    from bot.store.schema import ItemRow

    counts: dict[int, int] = {
        feed_id: count
        for feed_id, count in session.execute(
            select(ItemRow.feed_id, func.count()).group_by(ItemRow.feed_id)
        )
    }
    return [
        FeedHealth(
            id=f.id,
            url=f.url,
            name=f.name or f.title,
            status=f.status,
            origin=f.origin,
            last_success_at=f.last_success_at,
            last_error=f.last_error,
            consecutive_errors=f.consecutive_errors,
            items_per_day=f.items_per_day,
            next_check_at=f.next_check_at,
            item_count=counts.get(f.id, 0),
        )
        for f in session.scalars(select(Feed).order_by(Feed.id))
    ]


def make_all_due(session: Session, now: datetime) -> None:
    """Mark every healthy feed due now (for `run --once` and `poll now`).

    A failing one keeps its time: its backoff, or the wait its server asked for
    (Retry-After), which a second `run --once` a minute later must not break; it is
    polled with the rest once that time has come.
    """
    session.execute(update(Feed).where(Feed.status == "active").values(next_check_at=now))


def most_overdue(session: Session, now: datetime) -> timedelta | None:
    """How late the most overdue polled feed is (None: no feed is due). For health checks."""
    from sqlalchemy import func

    oldest = session.scalar(select(func.min(Feed.next_check_at)).where(Feed.status.in_(POLLED)))
    if oldest is None:
        return None
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    return max(now - oldest, timedelta(0))
